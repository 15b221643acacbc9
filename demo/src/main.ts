/**
 * `npm start`: runs the island demo until Ctrl-C and prints how to look at it.
 *
 *   npm start [-- --dir <island dir>] [--port <api port>] [--pace <ms between actions>] [--quiet]
 */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { IslandDemo } from './island.ts'

const USAGE = 'usage: npm start [-- --dir <island dir>] [--port <api port>] [--pace <ms>] [--quiet]'

let values
try {
  values = parseArgs({
    options: {
      dir: { type: 'string', default: process.env.MICROGRID_ISLAND_DIR ?? join(homedir(), '.microgrid', 'island') },
      port: { type: 'string', default: '7420' },
      pace: { type: 'string', default: '4000' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' }
    },
    strict: true
  }).values
} catch (err) {
  process.stderr.write(`island: ${(err as Error).message}\n${USAGE}\n`)
  process.exit(2)
}
if (values.help === true) { process.stdout.write(USAGE + '\n'); process.exit(0) }
const port = Number(values.port)
const pace = Number(values.pace)
if (!Number.isInteger(port) || port < 0 || port > 65535) { process.stderr.write(`island: --port: expected a port number, got ${values.port}\n${USAGE}\n`); process.exit(2) }
if (!Number.isFinite(pace) || pace < 100) { process.stderr.write(`island: --pace: expected milliseconds ≥ 100, got ${values.pace}\n${USAGE}\n`); process.exit(2) }

const say = (line: string): void => { process.stdout.write(line + '\n') }
const started = Date.now()
say(`Starting the island in ${values.dir} ...`)
let demo: IslandDemo
try {
  demo = await IslandDemo.start({ dir: values.dir, port, paceMs: pace, log: values.quiet === true ? () => {} : line => say(`  ${line}`) })
} catch (err) {
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    process.stderr.write(`island: port ${port} is in use: pass --port 0 for any free port, or another number\n`)
    process.exit(1)
  }
  throw err
}
say(`
Island "Isla Verde" is running (${((Date.now() - started) / 1000).toFixed(1)} s): a utility, two rooftop producers, five
households, three street lights and a stadium, each a libp2p peer with its own key and ledger.

  API       ${demo.url}/api/v1   (token in ${join(values.dir, 'api-token')})
  try       export TOKEN=${demo.token}
            curl -s -H "Authorization: Bearer $TOKEN" ${demo.url}/api/v1/status
            curl -s -H "Authorization: Bearer $TOKEN" ${demo.url}/api/v1/devices
            curl -s -H "Authorization: Bearer $TOKEN" ${demo.url}/api/v1/receipts
            curl -sN -H "Authorization: Bearer $TOKEN" ${demo.url}/api/v1/events      # live
  docs      docs/API.md

Ctrl-C stops it; npm start again resumes the same island.
`)
const stop = (): void => {
  say('Stopping the island ...')
  void demo.stop().then(() => process.exit(0), err => { process.stderr.write(`${(err as Error).message}\n`); process.exit(1) })
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
