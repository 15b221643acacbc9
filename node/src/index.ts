export { MicrogridNode, gridTopic, type MicrogridNodeInit, type NodeEvents } from './node.ts'
export { loadOrCreatePeerKey } from './identity.ts'
export { SYNC_PROTOCOL, SYNC_LIMITS, SyncProtocolError, type PullRequest, type ServerMessage } from './sync-messages.ts'
export { inviteUri, parseInvite, InviteError, type Invite } from './invite.ts'
