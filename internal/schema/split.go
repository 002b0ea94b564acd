package schema

import (
	"errors"
	"strings"
)

// splitStatements splits a migration into statements at semicolons outside
// quotes and comments, dropping comments and empty statements.
//
// It understands single-quoted strings (a doubled quote escapes a quote),
// double-quoted and backquoted identifiers, -- line comments and /* */ block
// comments. Migrations must not use dollar-quoted bodies ($$) or backslash
// escapes in strings; the splitter refuses $$ rather than split such a body
// wrongly.
func splitStatements(src string) ([]string, error) {
	var (
		stmts []string
		cur   strings.Builder
	)
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			stmts = append(stmts, s)
		}
		cur.Reset()
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '-' && i+1 < len(src) && src[i+1] == '-':
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				i = len(src)
			} else {
				i += end
			}
			cur.WriteByte('\n')
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, errors.New("unterminated /* comment")
			}
			i += 2 + end + 1
			cur.WriteByte(' ')
		case c == '$' && i+1 < len(src) && src[i+1] == '$':
			return nil, errors.New("dollar-quoted bodies ($$) are not supported in migrations")
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for {
				k := strings.IndexByte(src[j:], c)
				if k < 0 {
					return nil, errors.New("unterminated " + string(c) + " quote")
				}
				j += k + 1
				if j < len(src) && src[j] == c { // doubled quote: escaped
					j++
					continue
				}
				break
			}
			cur.WriteString(src[i:j])
			i = j - 1
		case c == ';':
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return stmts, nil
}
