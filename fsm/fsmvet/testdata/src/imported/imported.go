// Package imported tables the types of package enums.
package imported

import (
	"enums"

	"github.com/connfsm/connfsm/fsm"
)

var complete = []fsm.Rule[enums.State, enums.Event]{
	{From: enums.Open, On: enums.Push, Then: fsm.To(enums.Shut)},
	{From: enums.Open, On: enums.Pull, Then: fsm.Ignore[enums.State]()},
	{From: enums.Shut, On: enums.Push, Then: fsm.Ignore[enums.State]()},
	{From: enums.Shut, On: enums.Pull, Then: fsm.To(enums.Open)},
}

var missing = []fsm.Rule[enums.State, enums.Event]{ // want `rule table misses Shut × Pull`
	{From: enums.Open, On: enums.Push, Then: fsm.To(enums.Shut)},
	{From: enums.Open, On: enums.Pull, Then: fsm.Ignore[enums.State]()},
	{From: enums.Shut, On: enums.Push, Then: fsm.Ignore[enums.State]()},
}
