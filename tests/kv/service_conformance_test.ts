import { kvServiceConformance } from "./service_conformance.ts";
import { FakeKvService } from "./fake_service.ts";

kvServiceConformance(
  "fake KvService",
  () => Promise.resolve({ service: new FakeKvService(), close: () => Promise.resolve() }),
);
