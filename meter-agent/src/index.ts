/**
 * @microgrid/meter-agent: a light peer beside a meter. It counts pulses (io/), signs a mint or a burn
 * per kWh through the full nodes it trusts (light-client.ts, agent.ts), keeps its counter crash-safe
 * (state-store.ts) and switches a relay by the device's funds (policy/).
 */
export { MeterAgent, type MeterAgentInit, type AgentStatus } from './agent.ts'
export { loadConfig, parseConfig, ConfigError, type MeterConfig, type InputConfig, type RelayConfig } from './config.ts'
export { StateStore, StateFileError, emptyState, type MeterState, type SignedRecord } from './state-store.ts'
export { LightClient, NodeUnreachableError, type LightTransport } from './light-client.ts'
export { main as runCli, UsageError } from './cli.ts'
export * from './io/pulses.ts'
export * from './io/relay.ts'
export * from './policy/index.ts'
