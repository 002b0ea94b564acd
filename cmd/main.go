// Command inboxchat-operator is the one binary of the InboxChat operator: the
// manager by default, and the worker subcommands that the controllers run as
// Jobs in tenant namespaces.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/inboxchat/inboxchat-operator/controllers"
)

// subcommands maps a name to its entry point. The manager runs when no
// subcommand is given.
var subcommands = map[string]func(args []string) error{
	"manager": runManager,
}

func main() {
	name, args := "manager", os.Args[1:]
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	run, ok := subcommands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "inboxchat-operator: unknown subcommand %q\n", name)
		os.Exit(2)
	}
	if err := run(args); err != nil {
		fmt.Fprintf(os.Stderr, "inboxchat-operator %s: %v\n", name, err)
		var r refusal
		if errors.As(err, &r) {
			os.Exit(controllers.WorkerExitRefused) // the Job's pod failure policy fails it at once
		}
		os.Exit(1)
	}
}

// refusal is a worker's error that a retry cannot change.
type refusal struct{ error }

func (r refusal) Unwrap() error { return r.error }
