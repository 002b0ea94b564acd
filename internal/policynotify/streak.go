package policynotify

import "sync"

// failureStreak watches for a mail server or keyring that fails every user,
// not one recipient: Config.MaxConsecutiveFailures such failures in a row
// stop the run. The users of the streak whose message was certainly not
// delivered are then taken out of the ledger again, so that the run can be
// repeated once the cause is fixed and nobody is failed by it for good.
type failureStreak struct {
	limit int

	mu        sync.Mutex
	n         int
	retryable []int64
}

// reset ends the streak: a message was delivered, or the server refused
// one recipient, which shows that it works.
func (s *failureStreak) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n, s.retryable = 0, s.retryable[:0]
}

// fail counts a failure of user; retryable says nothing was delivered. When
// the streak reaches the limit it returns the retryable users of the streak
// and starts a new one.
func (s *failureStreak) fail(user int64, retryable bool) (tripped bool, release []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if retryable {
		s.retryable = append(s.retryable, user)
	}
	if s.n < s.limit {
		return false, nil
	}
	release = s.retryable
	s.n, s.retryable = 0, nil
	return true, release
}
