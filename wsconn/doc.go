// Package wsconn is a resilient WebSocket client. It keeps one connection
// to a ws:// or wss:// URL alive until it is closed. It is package
// session's core over github.com/coder/websocket.
//
// Everything but the WebSocket is session's: the lifecycle and its
// guarantees, heartbeats, the retry policy, sending, subscriptions, the
// data path and the Pool. Read package session for them. This package's
// Client, Option, Pool and most other names are aliases of session's, so
// most code needs no other import.
//
// # What the WebSocket adds
//
// Dial and NewPool take a URL. Each dial is one HTTP handshake that
// upgrades to a WebSocket. The handshake timeout bounds it
// (WithHandshakeTimeout), and so does the HTTP client's Timeout. A
// handshake follows at most MaxRedirects redirects. A refused handshake is
// a *HandshakeError with its status and Retry-After, for the retry policy.
//
// WithCredentials is called before every dial, for the URL and headers
// that dial uses. So tokens and listen keys that expire are fetched again
// for every reconnect. WithHeader adds fixed headers to every handshake.
// WithSubprotocols offers subprotocols (Session.Subprotocol says which one
// the server chose). WithCompression turns on permessage-deflate.
//
// WithTLSConfig sets the roots and client certificate of wss:// handshakes.
// WithProxy sends the handshakes through an HTTP or SOCKS5 proxy. Without
// it, the proxy comes from the environment. WithHTTPClient replaces the
// whole HTTP client, e.g. with a test venue's in-memory one.
//
// The heartbeat uses WebSocket pings unless WithAppHeartbeat is given.
// The client always answers the peer's pings. A peer's close frame ends
// the connection with a *CloseError carrying its code and reason.
//
// # Secrets
//
// Logs show the URL without userinfo, query or fragment. They never show
// message payloads or header values. Errors returned to the caller hide
// the same parts of the URL: Dial's, Err, and the causes in records. This
// holds for the URLs the credentials function returns and the handshake
// was redirected to as well.
//
// # Deprecated names
//
// WithClassifier and OnTransition remain for older code. A client has one
// way to decide retries, WithRetryPolicy, and one observer, OnRecord.
//
// # Testing
//
// Package wsconntest is a scripted venue to test a client against, as
// net/http/httptest is to net/http. It runs in memory or on loopback TCP.
// In memory under testing/synctest, the client's timers run in virtual
// time: heartbeat, backoff and timeouts. Plug its in-memory transport in
// with WithHTTPClient(srv.Client()).
package wsconn
