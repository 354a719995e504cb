"""The server's side of `firstline node`: enrolment, connected nodes, routing calls to them, node targets.

    registry.py  tokens (shown once, stored as a hash), labels, facts, revocation
    hub.py       the WebSocket links of the nodes connected to this process
    relay.py     calls for a node connected to another replica: node_calls + LISTEN/NOTIFY (PostgreSQL)
    router.py    one `call` for the targets: this process's hub, else the relay
    signing.py   the Ed25519 key that signs approved write calls
    target.py    `node:NAME` and `nodes:role=web,env=prod` targets
The node's own side (protocol, policy, approvals check) is `tools/node/`.
"""
