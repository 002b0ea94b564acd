package unsubscribe

import "strings"

// RedactPath returns path with an unsubscribe token replaced by "[token]",
// for request logs.
func RedactPath(path string) string {
	if strings.HasPrefix(path, Path) && len(path) > len(Path) {
		return Path + "[token]"
	}
	return path
}
