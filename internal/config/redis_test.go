package config

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestRedisOptions(t *testing.T) {
	ca := writeTestCA(t)
	tests := []struct {
		name string
		env  map[string]string
		want redis.UniversalOptions // compared without TLSConfig
		tls  bool
	}{
		{
			name: "single with db and params",
			env:  map[string]string{"REDIS_URL": "redis://redis:6379/3?dial_timeout=2s&pool_size=20&client_name=fleet"},
			want: redis.UniversalOptions{Addrs: []string{"redis:6379"}, DB: 3, DialTimeout: 2 * time.Second, PoolSize: 20, ClientName: "fleet"},
		},
		{
			name: "single default port, URL password",
			env:  map[string]string{"REDIS_URL": "redis://user:pw@redis"},
			want: redis.UniversalOptions{Addrs: []string{"redis:6379"}, Username: "user", Password: "pw"},
		},
		{
			name: "memorystore: rediss, AUTH string from REDIS_PASSWORD, private CA",
			env:  map[string]string{"REDIS_URL": "rediss://10.0.0.3:6378/0", "REDIS_PASSWORD": "auth-string", "REDIS_TLS_CA_FILE": ca.caFile},
			want: redis.UniversalOptions{Addrs: []string{"10.0.0.3:6378"}, Password: "auth-string"},
			tls:  true,
		},
		{
			name: "cluster with seeds",
			env:  map[string]string{"REDIS_URL": "rediss://n1:6379?addr=n2:6379&addr=n3:6379&read_only=true", "REDIS_MODE": "cluster", "REDIS_PASSWORD": "pw"},
			want: redis.UniversalOptions{Addrs: []string{"n1:6379", "n2:6379", "n3:6379"}, IsClusterMode: true, ReadOnly: true, Password: "pw"},
			tls:  true,
		},
		{
			name: "sentinel",
			env:  map[string]string{"REDIS_URL": "redis://:sentpw@s1:26379/2?addr=s2:26379", "REDIS_MODE": "sentinel", "REDIS_SENTINEL_MASTER": "mymaster", "REDIS_PASSWORD": "datapw"},
			want: redis.UniversalOptions{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", SentinelPassword: "sentpw", Password: "datapw", DB: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(lookup(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			o, err := c.RedisOptions()
			if err != nil {
				t.Fatal(err)
			}
			tc := o.TLSConfig
			o.TLSConfig = nil
			if !reflect.DeepEqual(*o, tt.want) {
				t.Errorf("options:\n got %+v\nwant %+v", *o, tt.want)
			}
			if (tc != nil) != tt.tls {
				t.Fatalf("TLS = %v, want %v", tc != nil, tt.tls)
			}
			if tc != nil {
				if tc.MinVersion != tls.VersionTLS12 || tc.InsecureSkipVerify || tc.ServerName != "" {
					t.Errorf("TLS config: min %x skip %v server name %q", tc.MinVersion, tc.InsecureSkipVerify, tc.ServerName)
				}
				if _, ok := tt.env["REDIS_TLS_CA_FILE"]; ok != (tc.RootCAs != nil) {
					t.Errorf("RootCAs set = %v, want %v", tc.RootCAs != nil, ok)
				}
			}
		})
	}
}

// TestRedisOptionsAgainstRealServers connects with the built options to real
// redis-server processes: plain with AUTH, and TLS with a private CA (the
// Memorystore shape). Skipped when redis-server is not installed.
func TestRedisOptionsAgainstRealServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed (apt-get install redis-server)")
	}
	ca := writeTestCA(t)

	plain := startRedis(t, "--requirepass", "pw1")
	tlsPort := freePort(t)
	startRedisArgs(t, tlsPort, "--port", "0", "--tls-port", fmt.Sprint(tlsPort),
		"--tls-cert-file", ca.certFile, "--tls-key-file", ca.keyFile, "--tls-ca-cert-file", ca.caFile,
		"--tls-auth-clients", "no", "--requirepass", "pw2")

	ping := func(t *testing.T, env map[string]string) error {
		t.Helper()
		c, err := Load(lookup(env))
		if err != nil {
			t.Fatal(err)
		}
		o, err := c.RedisOptions()
		if err != nil {
			t.Fatal(err)
		}
		o.MaxRetries = -1
		client := redis.NewUniversalClient(o)
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return client.Ping(ctx).Err()
	}

	t.Run("plain with REDIS_PASSWORD", func(t *testing.T) {
		if err := ping(t, map[string]string{"REDIS_URL": fmt.Sprintf("redis://127.0.0.1:%d/1", plain), "REDIS_PASSWORD": "pw1"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("plain with wrong password fails", func(t *testing.T) {
		if err := ping(t, map[string]string{"REDIS_URL": fmt.Sprintf("redis://:nope@127.0.0.1:%d", plain)}); err == nil {
			t.Fatal("PING with a wrong password succeeded")
		}
	})
	t.Run("rediss with private CA", func(t *testing.T) {
		if err := ping(t, map[string]string{"REDIS_URL": fmt.Sprintf("rediss://127.0.0.1:%d", tlsPort), "REDIS_PASSWORD": "pw2", "REDIS_TLS_CA_FILE": ca.caFile}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("rediss without the CA is rejected", func(t *testing.T) {
		err := ping(t, map[string]string{"REDIS_URL": fmt.Sprintf("rediss://127.0.0.1:%d", tlsPort), "REDIS_PASSWORD": "pw2"})
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("PING without the CA: %v, want a certificate error", err)
		}
	})
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startRedis(t *testing.T, extra ...string) int {
	port := freePort(t)
	startRedisArgs(t, port, append([]string{"--port", fmt.Sprint(port)}, extra...)...)
	return port
}

func startRedisArgs(t *testing.T, port int, args ...string) {
	t.Helper()
	args = append(args, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	cmd := exec.Command("redis-server", args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("redis-server did not start:\n%s", out.String())
}

type testCA struct{ caFile, certFile, keyFile string }

// writeTestCA writes a private CA and a server certificate for 127.0.0.1 and
// 10.0.0.3 signed by it.
func writeTestCA(t *testing.T) testCA {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test redis CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "redis"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.3")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := testCA{
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "server.pem"),
		keyFile:  filepath.Join(dir, "server.key"),
	}
	write := func(path, typ string, der []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(ca.caFile, "CERTIFICATE", caDER)
	write(ca.certFile, "CERTIFICATE", srvDER)
	write(ca.keyFile, "EC PRIVATE KEY", keyDER)
	return ca
}
