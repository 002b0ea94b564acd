// Package dockerfile reads the repository's Dockerfile well enough to check
// it without Docker: stages, instructions with their flags, line
// continuations and comments. Heredocs and non-default escape characters are
// refused rather than misread.
package dockerfile

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode"
)

// Instruction is one Dockerfile instruction.
type Instruction struct {
	// Cmd is the instruction, upper case (FROM, RUN, COPY, ...).
	Cmd string
	// Flags are the leading --name=value options (RUN --mount=..., COPY --from=...).
	Flags []string
	// Args is the rest of the instruction, continuations joined by a space.
	Args string
	// Line is where the instruction starts, 1-based.
	Line int
}

// Flag returns the value of flag name (without the dashes) and whether it is set.
func (i Instruction) Flag(name string) (string, bool) {
	for _, f := range i.Flags {
		k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if k == name {
			return v, true
		}
	}
	return "", false
}

// Stage is a build stage: its FROM and the instructions after it.
type Stage struct {
	From         Instruction
	Image        string
	Name         string
	Instructions []Instruction
}

// Find returns the stage's instructions of kind cmd.
func (s Stage) Find(cmd string) []Instruction {
	var out []Instruction
	for _, i := range s.Instructions {
		if i.Cmd == cmd {
			out = append(out, i)
		}
	}
	return out
}

// File is a parsed Dockerfile.
type File struct {
	// Global are the instructions before the first FROM (ARG only).
	Global []Instruction
	Stages []Stage
}

// Stage returns the stage named name.
func (f File) Stage(name string) (Stage, bool) {
	for _, s := range f.Stages {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return Stage{}, false
}

// Final returns the last stage: the image that is shipped.
func (f File) Final() Stage { return f.Stages[len(f.Stages)-1] }

// Parse reads a Dockerfile.
func Parse(r io.Reader) (File, error) {
	var (
		f       File
		buf     strings.Builder
		start   int
		lineNo  int
		pending bool
	)
	flush := func() error {
		text := strings.TrimSpace(buf.String())
		buf.Reset()
		pending = false
		if text == "" {
			return nil
		}
		ins, err := parseInstruction(text, start)
		if err != nil {
			return err
		}
		if ins.Cmd == "FROM" {
			st := Stage{From: ins}
			fields := strings.Fields(ins.Args)
			if len(fields) == 0 {
				return fmt.Errorf("line %d: FROM without an image", start)
			}
			st.Image = fields[0]
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.Name = fields[2]
			} else if len(fields) != 1 {
				return fmt.Errorf("line %d: cannot read FROM %s", start, ins.Args)
			}
			f.Stages = append(f.Stages, st)
			return nil
		}
		if len(f.Stages) == 0 {
			if ins.Cmd != "ARG" {
				return fmt.Errorf("line %d: %s before the first FROM", start, ins.Cmd)
			}
			f.Global = append(f.Global, ins)
			return nil
		}
		last := &f.Stages[len(f.Stages)-1]
		last.Instructions = append(last.Instructions, ins)
		return nil
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			if start == 0 && escapeDirective.MatchString(trimmed) {
				return File{}, fmt.Errorf("line %d: escape directives are not supported", lineNo)
			}
			continue // comments, also inside a continuation
		}
		if !pending {
			if trimmed == "" {
				continue
			}
			start = lineNo
		}
		if strings.Contains(line, "<<") && !pending && heredoc(trimmed) {
			return File{}, fmt.Errorf("line %d: heredocs are not supported", lineNo)
		}
		if strings.HasSuffix(trimmed, `\`) {
			buf.WriteString(strings.TrimSuffix(trimmed, `\`))
			buf.WriteString(" ")
			pending = true
			continue
		}
		buf.WriteString(trimmed)
		if err := flush(); err != nil {
			return File{}, err
		}
	}
	if err := sc.Err(); err != nil {
		return File{}, err
	}
	if pending {
		return File{}, fmt.Errorf("line %d: the file ends inside a line continuation", lineNo)
	}
	if len(f.Stages) == 0 {
		return File{}, fmt.Errorf("no FROM")
	}
	return f, nil
}

// escapeDirective is the parser directive that changes the escape
// character; it may only stand before the first instruction.
var escapeDirective = regexp.MustCompile(`(?i)^#\s*escape\s*=`)

// heredoc tells whether a RUN or COPY line opens a heredoc (<<EOF, <<-EOF).
func heredoc(line string) bool {
	cmd, rest, _ := strings.Cut(line, " ")
	cmd = strings.ToUpper(cmd)
	if cmd != "RUN" && cmd != "COPY" && cmd != "ADD" {
		return false
	}
	i := strings.Index(rest, "<<")
	after := strings.TrimPrefix(rest[i+2:], "-")
	return after != "" && (unicode.IsLetter(rune(after[0])) || after[0] == '"' || after[0] == '\'')
}

func parseInstruction(text string, line int) (Instruction, error) {
	cmd, rest, _ := strings.Cut(text, " ")
	ins := Instruction{Cmd: strings.ToUpper(cmd), Line: line}
	rest = strings.TrimSpace(rest)
	for strings.HasPrefix(rest, "--") {
		flag, after, _ := strings.Cut(rest, " ")
		ins.Flags = append(ins.Flags, flag)
		rest = strings.TrimSpace(after)
	}
	ins.Args = rest
	return ins, nil
}

// Words splits a shell command into words the way sh would for the simple
// commands a Dockerfile RUN holds: whitespace separates, single and double
// quotes group (and are removed), a backslash escapes the next character.
// Operators such as && and ; are words of their own only when spaced.
func Words(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else if r == '\\' && quote == '"' && i+1 < len(rs) {
				i++
				cur.WriteRune(rs[i])
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			in = true
		case unicode.IsSpace(r):
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
