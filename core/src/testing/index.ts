/** Shared acceptance suites (vitest): every implementation of an interface passes the same tests. */
export { runStorageAdapterTests, type StorageSuiteContext } from './storage-suite.ts'
export { runClockTests } from './clock-suite.ts'
export {
  runVerifierTests, loadWycheproof, highSTwin, flipBit, compactOf, signDigest, sha256, randomBytes,
  WYCHEPROOF_DIR, type WycheproofCase
} from './verifier-suite.ts'
export { Island, seededRandom, WHOLESALE_PRICE, RETAIL_PRICE, type IslandOptions, type Producer, type Device } from './island.ts'
