package everything

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxCompletions is the most values one completion/complete result carries
// (the limit set by the specification).
const maxCompletions = 100

// complete answers completion/complete for prompt arguments and resource
// template variables, offering the candidates listed in the prompt and
// template tables that start with the typed value (case-insensitively).
//
// An unknown prompt or template is an invalid-params error; an argument
// without candidates completes to nothing.
func (s *server) complete(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	ref := req.Params.Ref
	arg := req.Params.Argument
	var candidates []string
	switch ref.Type {
	case "ref/prompt":
		p, ok := s.findPrompt(ref.Name)
		if !ok {
			return nil, invalidParams("unknown prompt %q", ref.Name)
		}
		candidates = p.completions[arg.Name]
	case "ref/resource":
		t, ok := s.findTemplate(ref.URI)
		if !ok {
			return nil, invalidParams("unknown resource template %q", ref.URI)
		}
		if arg.Name == t.param {
			candidates = t.completions
		}
	default:
		return nil, invalidParams("unsupported completion reference type %q", ref.Type)
	}

	values := []string{} // never JSON null
	prefix := strings.ToLower(arg.Value)
	for _, c := range candidates {
		if strings.HasPrefix(strings.ToLower(c), prefix) {
			values = append(values, c)
		}
	}
	res := &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: values, Total: len(values)}}
	if len(values) > maxCompletions {
		res.Completion.Values = values[:maxCompletions]
		res.Completion.HasMore = true
	}
	return res, nil
}

// findPrompt returns the prompt table entry named name.
func (s *server) findPrompt(name string) (promptDef, bool) {
	for _, p := range s.promptTable {
		if p.prompt.Name == name {
			return p, true
		}
	}
	return promptDef{}, false
}

// findTemplate returns the template table entry whose URI template is uri.
func (s *server) findTemplate(uri string) (templateDef, bool) {
	for _, t := range s.templateTable {
		if t.uriTemplate() == uri {
			return t, true
		}
	}
	return templateDef{}, false
}

// invalidParams returns a JSON-RPC invalid-params error.
func invalidParams(format string, args ...any) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(format, args...)}
}
