// Command inboxchat-operator is the one binary of the InboxChat operator: the
// manager by default, and the worker subcommands that the controllers run as
// Jobs in tenant namespaces.
package main

import (
	"fmt"
	"os"
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
		os.Exit(1)
	}
}
