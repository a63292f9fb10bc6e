// Package enums declares a machine's types for another package's table.
package enums

type State uint8

const (
	Open State = iota
	Shut
	hidden // unexported: another package's table cannot name it
)

type Event uint8

const (
	Push Event = iota
	Pull
)

var _ = hidden
