package datamap

import "fmt"

// Error is one problem in a data map. [Load] and [Map.Validate] return all
// problems they find, joined with errors.Join; each is an *Error.
type Error struct {
	// Path is the place of the problem in the document, e.g.
	// stores[0].collections[2].fields[1].strategy.
	Path string
	// Msg says what is wrong there.
	Msg string
}

// Error returns "path: message".
func (e *Error) Error() string { return e.Path + ": " + e.Msg }

// problems collects the Errors of one validation run.
type problems []error

// add records a problem at path.
func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}
