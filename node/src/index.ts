export { MicrogridNode, gridTopic, type MicrogridNodeInit, type NodeEvents } from './node.ts'
export { loadOrCreatePeerKey } from './identity.ts'
export { SYNC_PROTOCOL, SYNC_LIMITS, SyncProtocolError, type PullRequest, type ServerMessage } from './sync-messages.ts'
export { inviteUri, parseInvite, InviteError, type Invite } from './invite.ts'
export { SqliteStorage, SqliteStorageClosedError, SQLITE_STORAGE_VERSION, type SqliteStorageOptions } from './sqlite-storage.ts'
export { main as runCli, UsageError } from './cli.ts'
export { beaconService, BeaconSignerError, type BeaconService, type BeaconInit } from './beacons.ts'
export { settlementService, inTurn, signInTurn, canSign, type SettlementService, type SettlementInit, type UnsettledReceipt, type UnsettledReason, type SaleAttempt } from './settlement.ts'
export { paymentGateway, PaymentInputError, WebhookSignatureError, WebhookPayloadError, PaymentUnavailableError, type PaymentGateway, type PaymentGatewayInit, type SimulatedPayment, type PaymentReceipt, type WebhookResult, type StripeWebhookConfig } from './payments.ts'
export { lightServer, type LightServerComponents } from './light-server.ts'
export {
  KeystoreError, WrongPassphraseError, STANDARD_SCRYPT, LIGHT_SCRYPT, PASSPHRASE_ENV, encryptKey, decryptKey, writeKeystore, readKeystore,
  passphraseFrom, loadKey, saveKey, type KdfParams, type KeystoreJson
} from './keystore.ts'
export { KeyRing } from './keys.ts'
export {
  createApi, closeApi, replicaOf, serveApi, API_PREFIX, API_VERSION, ApiError, wouldReject, Replica, RECENT_OPS, UI_CSP,
  type ApiComponents, type ApiOptions, type ApiPayments, type ApiSettlement, type ServeOptions, type ServedApi,
  type ReplicaOptions, type RecentOp, type UiOptions, type ApiSimulator, type SimulatedMeter
} from './api/index.ts'
