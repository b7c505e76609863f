package handler

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mcpfleet/mcpfleet/state"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sealer protects multi-round-trip requestState (SEP-2322): the state a
// tool returns with an input_required result travels through the client,
// which is untrusted. It is sealed with AES-256-GCM under a key shared by
// the fleet, bound to the method and target it was issued for, and carries
// an expiry. A retry that lands on any instance opens it; tampered, expired
// or misdirected state is rejected with an invalid-params error.
type sealer struct {
	fixed []byte
	store state.Store
	ttl   time.Duration

	mu      sync.Mutex
	aead    cipher.AEAD
	fetched time.Time
}

const (
	sealPrefix     = "mf1."
	sharedKeyName  = "mrtr-state"
	sharedKeyTTL   = 30 * 24 * time.Hour
	sharedKeyRenew = 24 * time.Hour
)

func newSealer(key []byte, store state.Store, ttl time.Duration) *sealer {
	return &sealer{fixed: key, store: store, ttl: ttl}
}

// cipher returns the AEAD, fetching (and periodically renewing) the shared
// key from the store when no key is configured.
func (s *sealer) cipher(ctx context.Context) (cipher.AEAD, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aead != nil && (s.fixed != nil || time.Since(s.fetched) < sharedKeyRenew) {
		return s.aead, nil
	}
	key := s.fixed
	if key == nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		k, err := s.store.SharedKey(sctx, sharedKeyName, 32, sharedKeyTTL)
		if err != nil {
			if s.aead != nil {
				return s.aead, nil // keep the key we have; renew later
			}
			return nil, fmt.Errorf("loading requestState key: %w", err)
		}
		key = k
		s.fetched = time.Now()
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s.aead = aead
	return aead, nil
}

// sealedState is the plaintext inside a sealed requestState.
type sealedState struct {
	Exp    int64  `json:"e"`
	Target string `json:"t"` // method and tool/prompt/resource it is valid for
	State  string `json:"s"`
}

// target names what a requestState is bound to.
func target(method string, params mcp.Params) (string, *string) {
	switch p := params.(type) {
	case *mcp.CallToolParamsRaw:
		return method + " " + p.Name, &p.RequestState
	case *mcp.CallToolParams:
		return method + " " + p.Name, &p.RequestState
	case *mcp.GetPromptParams:
		return method + " " + p.Name, &p.RequestState
	case *mcp.ReadResourceParams:
		return method + " " + p.URI, &p.RequestState
	}
	return "", nil
}

func resultState(res mcp.Result) *string {
	switch r := res.(type) {
	case *mcp.CallToolResult:
		return &r.RequestState
	case *mcp.GetPromptResult:
		return &r.RequestState
	case *mcp.ReadResourceResult:
		return &r.RequestState
	}
	return nil
}

func invalidState(reason string) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "invalid requestState: " + reason}
}

// unsealParams replaces a sealed requestState in params by its plaintext.
func (s *sealer) unsealParams(ctx context.Context, method string, params mcp.Params) error {
	tgt, st := target(method, params)
	if st == nil || *st == "" {
		return nil
	}
	if !strings.HasPrefix(*st, sealPrefix) {
		return invalidState("not issued by this server")
	}
	raw, err := base64.RawURLEncoding.DecodeString((*st)[len(sealPrefix):])
	if err != nil {
		return invalidState("malformed")
	}
	aead, err := s.cipher(ctx)
	if err != nil {
		return errStoreUnavailable(err)
	}
	if len(raw) < aead.NonceSize()+aead.Overhead() {
		return invalidState("malformed")
	}
	nonce, ct := raw[:aead.NonceSize()], raw[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, ct, []byte(tgt))
	if err != nil {
		return invalidState("tampered, or issued for another request")
	}
	var ss sealedState
	if err := json.Unmarshal(plain, &ss); err != nil || ss.Target != tgt {
		return invalidState("issued for another request")
	}
	if time.Now().Unix() > ss.Exp {
		return invalidState("expired; start the request again")
	}
	*st = ss.State
	return nil
}

// sealResult seals the requestState of an input_required result.
func (s *sealer) sealResult(ctx context.Context, method string, params mcp.Params, res mcp.Result) error {
	st := resultState(res)
	if st == nil || *st == "" {
		return nil
	}
	tgt, _ := target(method, params)
	aead, err := s.cipher(ctx)
	if err != nil {
		return errStoreUnavailable(err)
	}
	plain, err := json.Marshal(sealedState{Exp: time.Now().Add(s.ttl).Unix(), Target: tgt, State: *st})
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return errors.New("reading random nonce")
	}
	sealed := aead.Seal(nonce, nonce, plain, []byte(tgt))
	*st = sealPrefix + base64.RawURLEncoding.EncodeToString(sealed)
	return nil
}
