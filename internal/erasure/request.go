package erasure

import (
	"fmt"
	"regexp"
)

// Mode says whether a request exports, erases, or both; the values match the
// ErasureRequest API's spec.mode.
type Mode string

const (
	// Erase erases the subject's data without an export.
	Erase Mode = "Erase"
	// ExportThenErase exports the subject's data, then erases it.
	ExportThenErase Mode = "ExportThenErase"
	// Export only exports the subject's data.
	Export Mode = "Export"
)

// exports reports whether the mode makes an export.
func (m Mode) exports() bool { return m == Export || m == ExportThenErase }

// erases reports whether the mode erases.
func (m Mode) erases() bool { return m == Erase || m == ExportThenErase }

// Request is one erasure request.
type Request struct {
	// UID identifies the request (the ErasureRequest's metadata.uid). It
	// keys the erasure ledger and names the export, so running the same UID
	// again resumes or repeats that request.
	UID string
	// Subject is whose data to export and erase.
	Subject Subject
	// Mode is Erase (the default when empty), ExportThenErase or Export.
	Mode Mode
	// DryRun counts what would be exported and erased and changes nothing,
	// the ledger included.
	DryRun bool
}

// requestUID is the shape of a request UID: a Kubernetes UID fits, and the
// UID is safe as a file name and fits erasure_ledger.request.
var requestUID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// normalize checks the request and fills in the default mode.
func (r Request) normalize() (Request, error) {
	if !requestUID.MatchString(r.UID) {
		return r, fmt.Errorf("request UID must match %s", requestUID)
	}
	if r.Mode == "" {
		r.Mode = Erase
	}
	if !r.Mode.exports() && !r.Mode.erases() {
		return r, fmt.Errorf("mode %q: want %s, %s or %s", r.Mode, Erase, ExportThenErase, Export)
	}
	if _, _, err := r.Subject.identifier(); err != nil {
		return r, err
	}
	return r, nil
}
