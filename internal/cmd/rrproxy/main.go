// Command rrproxy is a round-robin reverse proxy with no affinity, for
// testing a fleet on one machine: every request, including each request of
// one MCP session, goes to the next backend in turn. Responses are streamed
// (SSE passes through unbuffered).
//
//	rrproxy -listen 127.0.0.1:9000 http://127.0.0.1:9001 http://127.0.0.1:9002
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync/atomic"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: rrproxy [-listen addr] backend-url...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var backends []*httputil.ReverseProxy
	for _, raw := range flag.Args() {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" {
			log.Fatalf("rrproxy: bad backend URL %q", raw)
		}
		p := httputil.NewSingleHostReverseProxy(u)
		p.FlushInterval = -1
		backends = append(backends, p)
	}
	var next atomic.Uint64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := next.Add(1) - 1
		backends[i%uint64(len(backends))].ServeHTTP(w, r)
	})
	log.Printf("rrproxy: %s -> %v", *listen, flag.Args())
	log.Fatal(http.ListenAndServe(*listen, h))
}
