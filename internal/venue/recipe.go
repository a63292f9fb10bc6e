package venue

// Recipe is a behaviour: a name, and a maker of what it does on one
// connection (P), fresh for each, so that one behaviour value may serve
// any number of connections. The zero Recipe does nothing.
type Recipe[P any] struct {
	name string
	make func() P
}

// NewRecipe returns a recipe that calls make for each connection.
func NewRecipe[P any](name string, make func() P) Recipe[P] {
	return Recipe[P]{name: name, make: make}
}

// Fixed returns a recipe that gives every connection p: for hooks that
// keep no state of their own.
func Fixed[P any](name string, p P) Recipe[P] {
	return Recipe[P]{name: name, make: func() P { return p }}
}

// IsZero reports whether r does nothing.
func (r Recipe[P]) IsZero() bool { return r.make == nil }

// Make returns what r does on a new connection; the zero P for the zero
// Recipe.
func (r Recipe[P]) Make() P {
	if r.make == nil {
		var zero P
		return zero
	}
	return r.make()
}

// String returns the name, or "none" for the zero Recipe.
func (r Recipe[P]) String() string {
	if r.name == "" {
		return "none"
	}
	return r.name
}

// Play returns what each behaviour of plan does on a new connection, as
// recipe finds its Recipe, leaving out those that do nothing; and the
// hooks every venue has of each, as common finds them.
func Play[B, P, C, M any](plan []B, recipe func(B) Recipe[P], common func(P) Hooks[C, M]) ([]P, []Hooks[C, M]) {
	var parts []P
	var hooks []Hooks[C, M]
	for _, b := range plan {
		if r := recipe(b); !r.IsZero() {
			p := r.Make()
			parts = append(parts, p)
			hooks = append(hooks, common(p))
		}
	}
	return parts, hooks
}

// Texts returns the data of every message, as strings.
func Texts[M any](ms []M, data func(M) []byte) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, string(data(m)))
	}
	return out
}
