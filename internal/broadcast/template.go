package broadcast

import (
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
)

// MessageFields are the lead fields a message template may use.
var MessageFields = []string{"FirstName", "LastName"}

// leadFields is the data a message template is executed with.
type leadFields struct {
	FirstName string
	LastName  string
}

// messageTemplate is a parsed, checked message template.
type messageTemplate struct {
	tmpl *template.Template
}

// parseMessageTemplate parses text as a Go text/template and checks that
// it uses only MessageFields, defines no other templates and renders for
// both present and missing names.
func parseMessageTemplate(text string) (*messageTemplate, *ValidationError) {
	const field = "spec.message.text"
	if strings.TrimSpace(text) == "" {
		return nil, &ValidationError{Field: field, Reason: "TextEmpty", Message: "the message text is empty"}
	}
	tmpl, err := template.New("message").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, &ValidationError{Field: field, Reason: "TemplateParseError",
			Message: "the message is not a valid Go template: " + strings.TrimPrefix(err.Error(), "template: ")}
	}
	if len(tmpl.Templates()) > 1 {
		return nil, &ValidationError{Field: field, Reason: "TemplateDefinesTemplates",
			Message: "the message template may not define other templates ({{define}} or {{block}})"}
	}
	if tmpl.Tree == nil || tmpl.Root == nil {
		return nil, &ValidationError{Field: field, Reason: "TextEmpty", Message: "the message text is empty"}
	}
	if problem := checkNode(tmpl.Root); problem != "" {
		return nil, &ValidationError{Field: field, Reason: "TemplateUnknownField", Message: problem}
	}
	mt := &messageTemplate{tmpl: tmpl}
	for _, sample := range []leadFields{{FirstName: "Ada", LastName: "Lovelace"}, {}} {
		if _, err := mt.render(sample); err != nil {
			return nil, &ValidationError{Field: field, Reason: "TemplateExecError",
				Message: "the message template fails when rendered: " + strings.TrimPrefix(err.Error(), "template: ")}
		}
	}
	return mt, nil
}

// render executes the template for one lead.
func (m *messageTemplate) render(f leadFields) (string, error) {
	var b strings.Builder
	if err := m.tmpl.Execute(&b, f); err != nil {
		return "", err
	}
	return b.String(), nil
}

// checkNode returns why node uses something other than MessageFields, or "".
func checkNode(node parse.Node) string {
	switch n := node.(type) {
	case nil:
		return ""
	case *parse.ListNode:
		if n == nil {
			return ""
		}
		for _, c := range n.Nodes {
			if p := checkNode(c); p != "" {
				return p
			}
		}
	case *parse.ActionNode:
		return checkNode(n.Pipe)
	case *parse.IfNode:
		return checkBranch(&n.BranchNode)
	case *parse.RangeNode:
		return checkBranch(&n.BranchNode)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode)
	case *parse.PipeNode:
		if n == nil {
			return ""
		}
		for _, c := range n.Cmds {
			if p := checkNode(c); p != "" {
				return p
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if p := checkNode(a); p != "" {
				return p
			}
		}
	case *parse.FieldNode:
		return checkFieldPath(n.Ident, n.String())
	case *parse.VariableNode:
		// $ alone is the lead; $.X is a field of the lead; a declared
		// variable holds a string, which has no fields.
		if len(n.Ident) > 1 {
			if n.Ident[0] == "$" {
				return checkFieldPath(n.Ident[1:], n.String())
			}
			return fmt.Sprintf("%s: a template variable has no fields; use only %s", n.String(), fieldList())
		}
	case *parse.ChainNode:
		if len(n.Field) > 0 {
			return fmt.Sprintf("%s: field access on an expression is not supported; use only %s", n.String(), fieldList())
		}
		return checkNode(n.Node)
	case *parse.TemplateNode:
		return fmt.Sprintf("{{template %q}}: the message template may not call other templates", n.Name)
	}
	// Text, comments, constants, dot, nil, function names, break and
	// continue need no check.
	return ""
}

func checkBranch(b *parse.BranchNode) string {
	if p := checkNode(b.Pipe); p != "" {
		return p
	}
	if p := checkNode(b.List); p != "" {
		return p
	}
	return checkNode(b.ElseList)
}

// checkFieldPath accepts exactly one of MessageFields.
func checkFieldPath(ident []string, text string) string {
	if len(ident) == 1 {
		for _, f := range MessageFields {
			if ident[0] == f {
				return ""
			}
		}
	}
	return fmt.Sprintf("unknown field %s: a message may use only %s", text, fieldList())
}

func fieldList() string {
	parts := make([]string, len(MessageFields))
	for i, f := range MessageFields {
		parts[i] = "{{." + f + "}}"
	}
	return strings.Join(parts, " and ")
}
