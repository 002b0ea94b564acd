package unsubscribe

import (
	"errors"
	"fmt"
)

// minKeyBytes is the shortest unsubscribe key crypto.VerifyUnsubscribe
// accepts.
const minKeyBytes = 16

// Validate reports what is missing from h, so that the unsubscribe server
// fails at start instead of answering every link with an error page.
func (h *Handler) Validate() error {
	var errs []error
	if h.DB == nil {
		errs = append(errs, errors.New("no database handle"))
	}
	if h.Engine.DriverName() == "" {
		errs = append(errs, fmt.Errorf("unknown database engine %q", h.Engine))
	}
	if len(h.Key) < minKeyBytes {
		errs = append(errs, fmt.Errorf("the unsubscribe key has %d bytes, at least %d are needed", len(h.Key), minKeyBytes))
	}
	if h.Tenant == "" {
		errs = append(errs, errors.New("no tenant name"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("unsubscribe: invalid handler: %w", err)
	}
	return nil
}
