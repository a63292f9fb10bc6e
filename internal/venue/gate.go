package venue

// Gate is whether a venue is up, down or closed. The zero Gate is up;
// Down and Up take the venue down and back, Close ends it for good. The
// venue's lock guards it.
type Gate struct{ closed, down bool }

// Close marks the venue closed.
func (g *Gate) Close() { g.closed = true }

// Closed reports whether the venue is closed.
func (g *Gate) Closed() bool { return g.closed }

// Down marks the venue down.
func (g *Gate) Down() { g.down = true }

// Shut reports whether the venue takes no connection: down or closed.
func (g *Gate) Shut() bool { return g.down || g.closed }

// Up brings the venue up again after Down, with reopen (to listen again,
// say). It returns closed after Close, nil at once when the venue is up,
// and reopen's error, the venue staying down, when that fails.
func (g *Gate) Up(closed error, reopen func() error) error {
	switch {
	case g.closed:
		return closed
	case !g.down:
		return nil
	}
	if err := reopen(); err != nil {
		return err
	}
	g.down = false
	return nil
}
