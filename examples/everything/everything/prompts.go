package everything

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// promptDef is one entry of the prompt table.
type promptDef struct {
	prompt  *mcp.Prompt
	handler mcp.PromptHandler
	// completions lists candidate values per argument name, offered by
	// completion/complete.
	completions map[string][]string
}

// prompts returns the prompt table.
func (s *server) prompts() []promptDef {
	return []promptDef{
		{
			prompt: &mcp.Prompt{
				Name:        "test_simple_prompt",
				Title:       "Simple prompt",
				Description: "A prompt without arguments.",
			},
			handler: s.simplePrompt,
		},
		{
			prompt: &mcp.Prompt{
				Name:        "test_prompt_with_arguments",
				Title:       "Prompt with arguments",
				Description: "A prompt that substitutes two required arguments.",
				Arguments: []*mcp.PromptArgument{
					{Name: "arg1", Description: "First test argument", Required: true},
					{Name: "arg2", Description: "Second test argument", Required: true},
				},
			},
			handler: s.promptWithArguments,
			completions: map[string][]string{
				"arg1": {"hello", "help", "paris", "park", "party", "test"},
				"arg2": {"world", "wonder", "test", "testing"},
			},
		},
		{
			prompt: &mcp.Prompt{
				Name:        "test_prompt_with_embedded_resource",
				Title:       "Prompt with embedded resource",
				Description: "A prompt that embeds the resource named by its argument.",
				Arguments: []*mcp.PromptArgument{
					{Name: "resourceUri", Description: "URI of the resource to embed", Required: true},
				},
			},
			handler:     s.promptWithEmbeddedResource,
			completions: map[string][]string{"resourceUri": {staticTextURI, staticBinaryURI, watchedURI}},
		},
		{
			prompt: &mcp.Prompt{
				Name:        "test_prompt_with_image",
				Title:       "Prompt with image",
				Description: "A prompt that includes image content.",
			},
			handler: s.promptWithImage,
		},
		{
			prompt: &mcp.Prompt{
				Name:        "test_input_required_result_prompt",
				Title:       "Prompt that needs input",
				Description: "Asks for context via an in-band elicitation request before rendering (SEP-2322).",
			},
			handler: s.inputPrompt,
		},
	}
}

// withRequiredArguments wraps h so that a prompts/get request missing any
// argument p declares as required fails with an invalid-params error.
func withRequiredArguments(p *mcp.Prompt, h mcp.PromptHandler) mcp.PromptHandler {
	return func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		for _, a := range p.Arguments {
			if _, ok := req.Params.Arguments[a.Name]; a.Required && !ok {
				return nil, &jsonrpc.Error{
					Code:    jsonrpc.CodeInvalidParams,
					Message: fmt.Sprintf("prompt %q: missing required argument %q", p.Name, a.Name),
				}
			}
		}
		return h(ctx, req)
	}
}

// userText returns a user message holding text.
func userText(text string) *mcp.PromptMessage {
	return &mcp.PromptMessage{Role: "user", Content: &mcp.TextContent{Text: text}}
}

func (s *server) simplePrompt(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	return &mcp.GetPromptResult{
		Description: "A simple test prompt",
		Messages:    []*mcp.PromptMessage{userText("This is a simple prompt for testing.")},
	}, nil
}

func (s *server) promptWithArguments(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	args := req.Params.Arguments
	return &mcp.GetPromptResult{
		Description: "A prompt with arguments",
		Messages: []*mcp.PromptMessage{
			userText(fmt.Sprintf("Prompt with arguments: arg1='%s', arg2='%s'", args["arg1"], args["arg2"])),
		},
	}, nil
}

func (s *server) promptWithEmbeddedResource(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	return &mcp.GetPromptResult{
		Description: "A prompt with an embedded resource",
		Messages: []*mcp.PromptMessage{
			{Role: "user", Content: &mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
				URI:      req.Params.Arguments["resourceUri"],
				MIMEType: "text/plain",
				Text:     "Embedded resource content for testing.",
			}}},
			userText("Please process the embedded resource above."),
		},
	}, nil
}

func (s *server) promptWithImage(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	return &mcp.GetPromptResult{
		Description: "A prompt with an image",
		Messages: []*mcp.PromptMessage{
			{Role: "user", Content: &mcp.ImageContent{Data: s.png, MIMEType: "image/png"}},
			userText("Please analyze the image above."),
		},
	}, nil
}
