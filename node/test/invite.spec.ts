import { afterAll, describe, expect, it } from 'vitest'
import { MicrogridNode, InviteError, parseInvite } from '@microgrid/node'
import { Island } from '@microgrid/core/testing'

const nodes: MicrogridNode[] = []
afterAll(async () => { await Promise.all(nodes.map(async n => await n.stop())) })

describe('invites', () => {
  it('joins a peer from the text of its QR invite', async () => {
    const isl = new Island({ seed: 'invite' })
    const a = await MicrogridNode.start({ genesis: isl.genesis, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    const b = await MicrogridNode.start({ genesis: isl.genesis, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    nodes.push(a, b)
    const text = a.invite()
    expect(text).toMatch(/^microgrid:invite\?grid=mgrid1/)
    expect(await b.connect(text)).toBe(a.peerId)
    expect(await b.connect(a.multiaddrs[0]!.toString())).toBe(a.peerId)
  })

  it('refuses an invite to another grid, and text that is not an invite, with the reason', async () => {
    const other = new Island({ seed: 'another grid' })
    const mine = new Island({ seed: 'invite-2' })
    const a = await MicrogridNode.start({ genesis: other.genesis, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    const b = await MicrogridNode.start({ genesis: mine.genesis, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    nodes.push(a, b)
    await expect(b.connect(a.invite())).rejects.toThrow(/serves grid/)
    expect(() => parseInvite('hello')).toThrow(InviteError)
    expect(() => parseInvite('/ip4/127.0.0.1/tcp/1')).toThrow(/does not name a peer/)
    expect(() => parseInvite('microgrid:invite?grid=x')).toThrow(/no addr/)
    expect(() => parseInvite('/ip4/999.0.0.1/tcp/1/p2p/x')).toThrow(InviteError)
  })
})
