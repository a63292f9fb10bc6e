package connfsm

// The lifecycle's documents (docs/lifecycle.*, README's diagram) are made
// from the table in transitions.go; the tests check they are current.
//go:generate go run ./internal/gendocs/cmd/gendocs
