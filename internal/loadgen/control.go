package loadgen

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// ControlStats is the venue's counters as GET /stats answers them.
type ControlStats struct {
	Accepted uint64 `json:"accepted"` // TCP connections accepted
	Echoed   uint64 `json:"echoed"`   // messages echoed
	Open     int    `json:"open"`     // WebSocket connections open now
}

// Stats returns srv's counters in the control endpoint's shape.
func Stats(srv *wsconntest.Server) ControlStats {
	st := srv.Stats()
	return ControlStats{Accepted: uint64(st.Accepted), Echoed: uint64(st.Sent), Open: int(st.Open)}
}

// Control returns the HTTP handler that controls srv from another process,
// as `connfsm serve` exposes it: POST /reset, /blackhole?on=true|false,
// /down, /up, and GET /stats (ControlStats as JSON).
func Control(srv *wsconntest.Server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		srv.ResetAll()
		fmt.Fprintln(w, "reset")
	})
	mux.HandleFunc("POST /blackhole", func(w http.ResponseWriter, r *http.Request) {
		on := r.URL.Query().Get("on")
		if on != "true" && on != "false" {
			http.Error(w, fmt.Sprintf("on must be true or false, got %q", on), http.StatusBadRequest)
			return
		}
		srv.Blackhole(on == "true")
		fmt.Fprintln(w, "blackhole", on)
	})
	mux.HandleFunc("POST /down", func(w http.ResponseWriter, _ *http.Request) {
		srv.Down()
		fmt.Fprintln(w, "down")
	})
	mux.HandleFunc("POST /up", func(w http.ResponseWriter, _ *http.Request) {
		if err := srv.Up(); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		fmt.Fprintln(w, "up")
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Stats(srv))
	})
	return mux
}
