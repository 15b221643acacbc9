/** docs/CLI.md, the command line's contract, against the commands themselves (COMMANDS in specs.ts). */
import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { COMMANDS } from '../src/cli/specs.ts'

const doc = await readFile(new URL('../../docs/CLI.md', import.meta.url), 'utf8')

/** Each `### microgrid <name>` section: its name and the text up to the next heading. */
const sections = [...doc.matchAll(/^### microgrid (.+)\n([\s\S]*?)(?=^#{1,3} |(?![\s\S]))/gm)].map(m => ({ name: m[1]!, body: m[2]! }))

describe('docs/CLI.md', () => {
  it('has a section per command whose usage block is the command\'s usage, word for word', () => {
    expect(COMMANDS.length).toBeGreaterThan(20)
    for (const spec of COMMANDS) {
      const matching = sections.filter(s => s.name === spec.name)
      expect(matching, `### microgrid ${spec.name}`).toHaveLength(1)
      // The section's first fenced block, right under the heading.
      const usage = /^\n```\n([\s\S]*?)\n```\n/.exec(matching[0]!.body)
      expect(usage, `microgrid ${spec.name}: a usage block under the heading`).not.toBeNull()
      expect(usage![1], `microgrid ${spec.name}`).toBe(spec.usage.join('\n'))
    }
  })

  it('has no section for a command that does not exist', () => {
    const names = new Set(COMMANDS.map(c => c.name))
    expect(sections.length).toBeGreaterThan(20)
    for (const s of sections) expect(names.has(s.name), `### microgrid ${s.name}`).toBe(true)
  })

  it('links every command from its contents', () => {
    for (const spec of COMMANDS) expect(doc, spec.name).toContain(`(#microgrid-${spec.name.replaceAll(' ', '-')})`)
  })
})
