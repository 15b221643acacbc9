// Minting for a generation meter from the producer simulator.
import { apiPost } from '../../data/api.ts'
import type { OpResult } from '../../data/types.ts'

/**
 * Asks the node to sign a mint of `wh` for the generation meter `meter` (contract generator: the
 * units go to the meter's producer). The node's API has no such route yet: this names the one the
 * simulator needs, `POST /api/v1/actions/mint` with `{ meter, wh }`, answered with the mint's
 * OpResult and signed with a generation-meter key the node holds (a simulated meter), or refused
 * like every action (403 no-signer, 422 implausible-mint, ...). Until then the node answers 404.
 */
export async function mintForGenerationMeter (body: { meter: string, wh: number }): Promise<OpResult> {
  return await apiPost<OpResult>('/actions/mint', body)
}
