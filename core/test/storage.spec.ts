import { MemoryStorage } from '../src/storage.ts'
import { runStorageAdapterTests } from '../src/testing/index.ts'

runStorageAdapterTests('MemoryStorage', async () => ({ adapter: new MemoryStorage() }))
