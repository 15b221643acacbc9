/**
 * Debian's libgpiod command-line tools (package `gpiod`) as child processes: version detection, line
 * lookup by name, argument builders and output parsers for both generations of the tools. No native
 * binding: the agent runs on an arm64 Raspberry Pi with no compiler. Never sysfs GPIO, never a chip
 * number from the config unless the operator gives one: lines are found by NAME (e.g. "GPIO17"),
 * because the Raspberry Pi 5 moved its header from gpiochip4 to gpiochip0 in 2024.
 *
 * Sources for every argument form below (read before writing this):
 * - v1 = libgpiod 1.6.3, Debian bookworm: gpiomon(1), gpioset(1) manual pages
 *   (https://manpages.ubuntu.com/manpages/jammy/man1/gpiomon.1.html,
 *   https://manpages.ubuntu.com/manpages/kinetic/man1/gpioset.1.html) and the 1.6 tools' source
 *   (brgl/libgpiod tools/gpiomon.c, gpioset.c, gpiofind.c, gpioinfo.c).
 * - v2 = libgpiod 2.x, Debian trixie: gpiomon(1), gpioset(1) manual pages
 *   (https://man.archlinux.org/man/extra/libgpiod/gpiomon.1.en for 2.1.2,
 *   https://manpages.debian.org/testing/gpiod/gpioset.1.en.html) and the 2.x tools' source
 *   (brgl/libgpiod tools/gpiomon.c, gpioset.c, tools-common.c).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'

export type GpiodVersion = 1 | 2
/** Paths of the tools (default: found on PATH by name). */
export interface GpiodTools { gpiomon?: string, gpioset?: string, gpioinfo?: string, gpiofind?: string }
export type GpiodTool = keyof GpiodTools
/** Line bias; v1 spells `disabled` as `disable`. */
export type Bias = 'pull-up' | 'pull-down' | 'disabled'

const TOOLS: readonly GpiodTool[] = ['gpiomon', 'gpioset', 'gpioinfo', 'gpiofind']
const BIASES: readonly Bias[] = ['pull-up', 'pull-down', 'disabled']

export function toolPath (tools: GpiodTools | undefined, name: GpiodTool): string {
  return tools?.[name] ?? name
}

/** Checks the options every GPIO driver shares; `owner` names the function in messages. */
export function checkGpioOptions (owner: string, o: {
  line?: unknown, chip?: unknown, tools?: unknown, version?: unknown, bias?: unknown, consumer?: unknown
}): void {
  if (typeof o.line !== 'string' || o.line === '') throw new TypeError(`${owner}: line must be a GPIO line name such as "GPIO17", got ${show(o.line)}`)
  if (/^\d+$/.test(o.line)) {
    throw new RangeError(`${owner}: line must be a line NAME such as "GPIO17", not an offset (${o.line}): offsets and chip numbers change between boards and kernels`)
  }
  if (/["=\n]/.test(o.line)) throw new RangeError(`${owner}: line must not contain '"', '=' or a newline, got ${show(o.line)}`)
  if (o.chip !== undefined && (typeof o.chip !== 'string' || o.chip === '' || o.chip.startsWith('-'))) {
    throw new TypeError(`${owner}: chip must be a chip name, number or path such as "gpiochip0", got ${show(o.chip)}`)
  }
  if (o.version !== undefined && o.version !== 1 && o.version !== 2 && o.version !== 'auto') {
    throw new RangeError(`${owner}: version must be 1, 2 or 'auto', got ${show(o.version)}`)
  }
  if (o.bias !== undefined && !BIASES.includes(o.bias as Bias)) throw new RangeError(`${owner}: bias must be one of ${BIASES.join(', ')}, got ${show(o.bias)}`)
  if (o.consumer !== undefined && (typeof o.consumer !== 'string' || !/^[\w.-]{1,31}$/.test(o.consumer))) {
    throw new RangeError(`${owner}: consumer must be 1 to 31 letters, digits, '.', '_' or '-', got ${show(o.consumer)}`)
  }
  if (o.tools !== undefined) {
    if (typeof o.tools !== 'object' || o.tools === null) throw new TypeError(`${owner}: tools must be an object of tool paths, got ${show(o.tools)}`)
    for (const [k, v] of Object.entries(o.tools)) {
      if (!TOOLS.includes(k as GpiodTool)) throw new RangeError(`${owner}: tools.${k} is not a gpiod tool (expected ${TOOLS.join(', ')})`)
      if (v !== undefined && (typeof v !== 'string' || v === '')) throw new TypeError(`${owner}: tools.${k} must be a path, got ${show(v)}`)
    }
  }
}

function show (v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' && v !== null ? 'an object' : String(v)
}

/** Why a tool could not run, in words an operator can act on. */
function spawnProblem (name: GpiodTool, path: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') return `${name} not found (${JSON.stringify(path)}): install the Debian package "gpiod", or set tools.${name}`
  return `cannot run ${name} (${JSON.stringify(path)}): ${err.message}`
}

/** Runs a tool to completion; rejects with its stderr when it fails. */
export function runTool (tools: GpiodTools | undefined, name: GpiodTool, args: string[], timeoutMs = 10_000): Promise<string> {
  const path = toolPath(tools, name)
  return new Promise((resolve, reject) => {
    execFile(path, args, { timeout: timeoutMs, maxBuffer: 1 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout)
      const e = err as NodeJS.ErrnoException & { code?: string | number, killed?: boolean }
      if (typeof e.code === 'string' && e.code !== 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return reject(new Error(spawnProblem(name, path, e)))
      const why = e.killed === true ? `timed out after ${timeoutMs} ms` : `exit code ${String(e.code)}`
      reject(new Error(`${name} ${args.join(' ')} failed (${why}): ${stderr.trim() || stdout.trim() || 'no output'}`))
    })
  })
}

/**
 * The libgpiod major version from a tool's `--version` output. Both generations print
 * `<tool> (libgpiod) v<version>` first (v1 tools-common.c print_version; v2 the same in tools-common.c).
 */
export function parseGpiodVersion (output: string): GpiodVersion {
  const m = /\(libgpiod\)\s+v?(\d+)\.\d+/.exec(output) ?? /\blibgpiod\b.*?\bv?(\d+)\.\d+/.exec(output)
  if (m === null) throw new Error(`cannot tell the libgpiod version from ${JSON.stringify(output.trim().slice(0, 200))}`)
  const major = Number(m[1])
  if (major === 1 || major === 2) return major
  throw new Error(`libgpiod v${major} is not supported (1.x and 2.x are): pass version: 1 or 2 to force one`)
}

/** Asks a gpiod tool (`gpiomon` by default) for its version: 1 (bookworm, 1.6) or 2 (trixie, 2.x). */
export async function detectGpiodVersion (tools?: GpiodTools, tool: GpiodTool = 'gpiomon'): Promise<GpiodVersion> {
  return parseGpiodVersion(await runTool(tools, tool, ['--version']))
}

/**
 * v1 only: the chip and offset of a line NAME. v1's gpiomon/gpioset take `<chip> <offset>`; the name
 * is looked up at every start, so a renumbered chip is found again.
 * - no chip: `gpiofind <name>` prints `<chip> <offset>`, and exits 1 printing nothing when no line has that name.
 * - a chip: `gpioinfo <chip>` lists `\tline  17:\t"GPIO17"\tunused\tinput\tactive-high` rows.
 */
export async function findLineV1 (tools: GpiodTools | undefined, line: string, chip?: string): Promise<{ chip: string, offset: number }> {
  if (chip === undefined) {
    let out: string
    try {
      out = await runTool(tools, 'gpiofind', [line])
    } catch (err) {
      const msg = (err as Error).message
      throw new Error(/failed \(exit code 1\): no output$/.test(msg) ? `no GPIO line named ${JSON.stringify(line)} (gpiofind found none)` : msg)
    }
    const m = /^(\S+)\s+(\d+)\s*$/.exec(out.trim())
    if (m === null) throw new Error(`gpiofind ${line}: unexpected output ${JSON.stringify(out.trim().slice(0, 200))}`)
    return { chip: m[1]!, offset: Number(m[2]) }
  }
  const offsets = parseGpioinfoV1(await runTool(tools, 'gpioinfo', [chip]), line)
  if (offsets.length === 0) throw new Error(`no GPIO line named ${JSON.stringify(line)} on chip ${chip} (gpioinfo ${chip})`)
  if (offsets.length > 1) throw new Error(`GPIO line name ${JSON.stringify(line)} is not unique on chip ${chip}: offsets ${offsets.join(', ')}`)
  return { chip, offset: offsets[0]! }
}

/** Offsets of the lines called `name` in v1 `gpioinfo` output. */
export function parseGpioinfoV1 (output: string, name: string): number[] {
  const found: number[] = []
  for (const row of output.split('\n')) {
    const m = /^\s*line\s+(\d+):\s+"([^"]*)"/.exec(row)
    if (m !== null && m[2] === name) found.push(Number(m[1]))
  }
  return found
}

/** What a gpiomon or gpioset request needs: the line's name, and for v1 its resolved chip and offset. */
export interface LineSpec {
  line: string
  chip?: string
  /** v1: the offset found by {@link findLineV1}; `chip` is then the chip it was found on. */
  offset?: number
  activeLow?: boolean
  bias?: Bias
  /** v2 only (`-C`); v1 tools always name themselves as the consumer. */
  consumer?: string
}

/** v1: the positional `<chip> <offset>` pair; v2: options then the line name (`-c` only if a chip was given). */
function target (version: GpiodVersion, s: LineSpec): { options: string[], line: string, chip: string[] } {
  if (version === 1) {
    if (s.chip === undefined || s.offset === undefined) throw new Error('gpiod v1 needs the line resolved to a chip and offset first (findLineV1)')
    return { options: [], line: String(s.offset), chip: [s.chip] }
  }
  // v2: "Lines are specified by name, or optionally by offset if the chip option is provided";
  // --by-name keeps a name from being read as an offset, --strict fails if the name is not unique.
  return {
    options: ['--by-name', '--strict', ...(s.consumer === undefined ? [] : ['--consumer', s.consumer]), ...(s.chip === undefined ? [] : ['--chip', s.chip])],
    line: s.line,
    chip: []
  }
}

function common (version: GpiodVersion, s: LineSpec): string[] {
  const out: string[] = []
  if (s.activeLow === true) out.push('--active-low') // -l, --active-low: both versions
  // v1: -B, --bias=[as-is|disable|pull-down|pull-up]; v2: -b, --bias <pull-down|pull-up|disabled>
  if (s.bias !== undefined) out.push(`--bias=${version === 1 && s.bias === 'disabled' ? 'disable' : s.bias}`)
  return out
}

/** The output format asked of gpiomon, so the parser needs no guessing (see {@link parseEdgeLine}). */
export const MONITOR_FORMAT = {
  /** v1 specifiers: %e event type (0 falling, 1 rising), %s seconds, %n nanoseconds (not zero-padded). */
  1: '%e %s %n',
  /** v2 specifiers: %E 'rising' or 'falling', %S timestamp as seconds (`<s>.<9-digit ns>`). */
  2: '%E %S'
} as const

/**
 * gpiomon arguments.
 * - v1: `gpiomon --line-buffered --format=FMT [-l] [--bias=..] <chip> <offset>`. `-b/--line-buffered`
 *   matters: v1 gpiomon writes with stdio, block-buffered into a pipe, and would sit on events.
 * - v2: `gpiomon --banner --by-name --strict [--consumer C] [--chip C] --format=FMT [-l] [--bias=..] <name>`.
 *   The banner ("Monitoring line ...") is printed once the line is requested, and v2 flushes stdout
 *   after every batch of events. Events carry the monotonic clock by default (v1 on Linux >= 5.7 too).
 */
export function gpiomonArgs (version: GpiodVersion, s: LineSpec): string[] {
  const t = target(version, s)
  const head = version === 1 ? ['--line-buffered'] : ['--banner', ...t.options]
  return [...head, `--format=${MONITOR_FORMAT[version]}`, ...common(version, s), ...t.chip, t.line]
}

/**
 * gpioset arguments that set the line and keep holding it until told to stop.
 * - v1: `gpioset --mode=wait [-l] <chip> <offset>=<0|1>`: "set values and wait for user to press ENTER"
 *   (`getchar()`), so the holder exits when we write a newline or close its stdin, and also when the
 *   agent dies and the pipe closes. The default mode (`exit`) would release the line at once, after
 *   which its state "must be interpreted as undefined behavior" (gpioset v1 help).
 * - v2: `gpioset --banner --by-name --strict [--consumer C] [--chip C] [-l] <name>=<0|1>`: v2 holds the
 *   line until killed (by default it "does not exit"), and prints the banner ("Setting line ...") only
 *   once the line is requested, so the banner confirms the set.
 */
export function gpiosetArgs (version: GpiodVersion, s: LineSpec & { value: 0 | 1 }): string[] {
  const t = target(version, s)
  const head = version === 1 ? ['--mode=wait'] : ['--banner', ...t.options]
  return [...head, ...common(version, { ...s, bias: undefined }), ...t.chip, `${t.line}=${s.value}`]
}

/**
 * One gpiomon output line as an edge: `level` 1 for a rising edge, 0 for a falling one, and the kernel
 * timestamp in ms when the line has one. Understands both versions' custom formats
 * ({@link MONITOR_FORMAT}; numeric %e is 1 for rising in both, falling is 0 in v1 and 2 in v2) and
 * both default formats (v1 `event:  RISING EDGE offset: 17 timestamp: [ 1234.000000001]`,
 * v2 `1234.000000001\trising\t"GPIO17"`). Anything else (banners, warnings) gives undefined.
 */
export function parseEdgeLine (text: string): { level: 0 | 1, tsMs: number | undefined } | undefined {
  const s = text.trim()
  let m = /^([012]) (\d+) (\d+)$/.exec(s) // v1 %e %s %n
  if (m !== null) return { level: m[1] === '1' ? 1 : 0, tsMs: Number(m[2]) * 1000 + Number(m[3]) / 1e6 }
  m = /^(rising|falling|1|2) (\d+)\.(\d{9})$/.exec(s) // v2 %E %S (or %e %S)
  if (m !== null) return { level: m[1] === 'rising' || m[1] === '1' ? 1 : 0, tsMs: seconds(m[2]!, m[3]!) }
  m = /^event:\s+(RISING|FALLING) EDGE offset: \d+ timestamp: \[\s*(\d+)\.(\d{9})\]$/.exec(s) // v1 default
  if (m !== null) return { level: m[1] === 'RISING' ? 1 : 0, tsMs: seconds(m[2]!, m[3]!) }
  m = /^(\d+)\.(\d{9})\s+(rising|falling)\s/.exec(s) // v2 default
  if (m !== null) return { level: m[3] === 'rising' ? 1 : 0, tsMs: seconds(m[1]!, m[2]!) }
  return undefined
}

function seconds (s: string, ns: string): number { return Number(s) * 1000 + Number(ns) / 1e6 }

/** How a tool process ended. */
export interface ToolExit { code: number | null, signal: NodeJS.Signals | null, error?: NodeJS.ErrnoException }

/**
 * A long-running tool (gpiomon, or a gpioset holding a line): its stdout as lines, the tail of its
 * stderr for error messages, and its end. If this Node process exits normally the tool is killed
 * with it; after a SIGKILL, systemd's control-group kill (the default KillMode) stops it.
 */
export class ToolProcess {
  readonly name: GpiodTool
  readonly child: ChildProcess
  /** Resolves once the process has ended and its output was read (or it never started). */
  readonly exited: Promise<ToolExit>
  #stderr = ''
  #ended: ToolExit | undefined
  readonly #onProcessExit = (): void => { this.child.kill('SIGTERM') }

  constructor (tools: GpiodTools | undefined, name: GpiodTool, args: string[], onLine: (line: string) => void, stdin = false) {
    this.name = name
    const path = toolPath(tools, name)
    this.child = spawn(path, args, { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] })
    this.child.stdin?.on('error', () => {}) // EPIPE once the tool is gone: its exit tells the story
    let partial = ''
    this.child.stdout!.setEncoding('utf8')
    this.child.stdout!.on('data', (chunk: string) => {
      const rows = (partial + chunk).split('\n')
      partial = rows.pop()!.slice(-4096)
      for (const row of rows) onLine(row)
    })
    this.child.stderr!.setEncoding('utf8')
    this.child.stderr!.on('data', (chunk: string) => { this.#stderr = (this.#stderr + chunk).slice(-2048) })
    process.once('exit', this.#onProcessExit)
    this.exited = new Promise(resolve => {
      const done = (e: ToolExit): void => {
        if (this.#ended !== undefined) return
        this.#ended = e
        process.removeListener('exit', this.#onProcessExit)
        resolve(e)
      }
      this.child.once('error', (error: NodeJS.ErrnoException) => {
        if (this.child.pid === undefined) done({ code: null, signal: null, error: { ...error, message: spawnProblem(name, path, error) } })
      })
      // 'close' comes once stdout was read to its end; a child of the tool holding the pipe open
      // must not keep the exit from being seen, so 'exit' ends the wait 200 ms later at most
      this.child.once('close', (code, signal) => done({ code, signal }))
      this.child.once('exit', (code, signal) => { setTimeout(() => done({ code, signal }), 200).unref() })
    })
  }

  get running (): boolean { return this.#ended === undefined }

  /** The end of a tool in words: its spawn problem, or its exit status and stderr. */
  describe (e: ToolExit): string {
    if (e.error !== undefined) return e.error.message
    const status = e.signal !== null ? `killed by ${e.signal}` : `exit code ${String(e.code)}`
    return `${this.name} exited (${status}): ${this.#stderr.trim() || 'no error output'}`
  }

  /** Ends the tool: closes its stdin when it has one (v1 gpioset --mode=wait), else SIGTERM; SIGKILL after `graceMs`. */
  async stop (graceMs = 2000): Promise<ToolExit> {
    if (this.#ended === undefined) {
      if (this.child.stdin !== null) this.child.stdin.end('\n')
      else this.child.kill('SIGTERM')
      const timer = setTimeout(() => {
        if (this.child.stdin !== null && this.#ended === undefined) {
          this.child.kill('SIGTERM')
          setTimeout(() => this.child.kill('SIGKILL'), graceMs).unref()
        } else this.child.kill('SIGKILL')
      }, graceMs)
      timer.unref()
      await this.exited
      clearTimeout(timer)
    }
    return await this.exited
  }
}
