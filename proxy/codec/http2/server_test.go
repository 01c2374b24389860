package http2

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/internal/looptest"
)

// TestRequestsFromXNetClient sends requests from x/net's client and checks
// what the handler saw and what the client got back.
func TestRequestsFromXNetClient(t *testing.T) {
	big := make([]byte, 3<<20) // larger than both receive windows
	rand.Read(big)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		request func(url string) *http.Request
		check   func(t *testing.T, resp *http.Response, body []byte)
	}{
		{
			name: "a GET sees HTTP/2.0, the authority as Host and its URL",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%s %s %s %s %s q=%s cl=%d body=%v remote=%v",
					r.Proto, r.Method, r.Host, r.URL.Path, r.RequestURI, r.URL.Query().Get("q"),
					r.ContentLength, r.Body == http.NoBody, r.RemoteAddr != "")
			},
			request: func(url string) *http.Request {
				req, _ := http.NewRequest("GET", url+"/a/b?q=1", nil)
				req.Host = "example.test"
				return req
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				want := "HTTP/2.0 GET example.test /a/b /a/b?q=1 q=1 cl=0 body=true remote=true"
				if string(body) != want {
					t.Errorf("handler saw %q, want %q", body, want)
				}
			},
		},
		{
			name: "a POST body of known length streams to the handler",
			handler: func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				fmt.Fprintf(w, "cl=%d got=%d err=%v", r.ContentLength, len(b), err)
			},
			request: func(url string) *http.Request {
				req, _ := http.NewRequest("POST", url+"/", strings.NewReader("hello"))
				return req
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if string(body) != "cl=5 got=5 err=<nil>" {
					t.Errorf("got %q", body)
				}
			},
		},
		{
			name: "a body larger than the windows arrives whole both ways",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.Copy(w, r.Body)
			},
			request: func(url string) *http.Request {
				req, _ := http.NewRequest("PUT", url+"/", io.NopCloser(bytes.NewReader(big)))
				return req
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if !bytes.Equal(body, big) {
					t.Errorf("echoed %d bytes, want the %d sent", len(body), len(big))
				}
			},
		},
		{
			name: "declared and prefixed response trailers reach the client",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "Grpc-Status")
				w.WriteHeader(200)
				w.Write([]byte("body"))
				w.(http.Flusher).Flush()
				w.Header().Set("Grpc-Status", "0")
				w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
			},
			request: func(url string) *http.Request {
				req, _ := http.NewRequest("GET", url+"/", nil)
				return req
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if string(body) != "body" || resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("X-Late") != "yes" {
					t.Errorf("body %q trailers %v", body, resp.Trailer)
				}
				if resp.Header.Get("Grpc-Status") != "" {
					t.Errorf("a trailer was sent as a header: %v", resp.Header)
				}
			},
		},
		{
			name: "request trailers are in r.Trailer once the body is read",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.ReadAll(r.Body)
				fmt.Fprintf(w, "%q", r.Trailer.Get("X-Sum"))
			},
			request: func(url string) *http.Request {
				tr := http.Header{"X-Sum": nil}
				req, _ := http.NewRequest("POST", url+"/", &trailerBody{r: strings.NewReader("data"), tr: tr})
				req.Trailer = tr // filled when the body ends, then sent
				req.ContentLength = -1
				return req
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if string(body) != `"42"` {
					t.Errorf("handler saw trailer %s", body)
				}
			},
		},
		{
			name: "a header changed after the head was flushed is not sent",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Early", "1")
				w.WriteHeader(201)
				w.(http.Flusher).Flush()
				w.Header().Set("X-Late", "1")
			},
			request: func(url string) *http.Request {
				req, _ := http.NewRequest("GET", url+"/", nil)
				return req
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if resp.StatusCode != 201 || resp.Header.Get("X-Early") != "1" || resp.Header.Get("X-Late") != "" {
					t.Errorf("status %d header %v", resp.StatusCode, resp.Header)
				}
			},
		},
		{
			name: "a HEAD response has no body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "5")
				w.Write([]byte("hello"))
			},
			request: func(url string) *http.Request {
				req, _ := http.NewRequest("HEAD", url+"/", nil)
				return req
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if len(body) != 0 || resp.ContentLength != 5 {
					t.Errorf("body %q content-length %d", body, resp.ContentLength)
				}
			},
		},
		{
			name: "connection-specific response headers are dropped",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Keep-Alive", "timeout=5")
				w.Header().Set("Transfer-Encoding", "chunked")
				w.Header().Set("X-Kept", "1")
			},
			request: func(url string) *http.Request {
				req, _ := http.NewRequest("GET", url+"/", nil)
				return req
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if resp.Header.Get("Keep-Alive") != "" || resp.Header.Get("X-Kept") != "1" {
					t.Errorf("header %v", resp.Header)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serve(t, tt.handler, nil)
			resp, err := looptest.H2CClient(t).Do(tt.request("http://" + addr))
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("reading the body: %v", err)
			}
			if resp.ProtoMajor != 2 {
				t.Fatalf("response proto %s", resp.Proto)
			}
			tt.check(t, resp, body)
		})
	}
}

type trailerBody struct {
	r  io.Reader
	tr http.Header
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.tr.Set("X-Sum", "42")
	}
	return n, err
}
func (b *trailerBody) Close() error { return nil }

func TestInformationalResponsesPrecedeTheFinalOne(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(200)
	}), nil)
	var got []int
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
		got = append(got, code)
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+addr+"/", nil)
	resp, err := looptest.H2CClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(got) != 1 || got[0] != 103 {
		t.Fatalf("final %d, informational %v; want 200 after 103", resp.StatusCode, got)
	}
}

func TestTheRequestContextEnds(t *testing.T) {
	tests := []struct {
		name string
		// act makes the stream end while the handler waits on its context.
		act func(t *testing.T, cancel context.CancelFunc)
	}{
		{name: "when the client resets the stream", act: func(t *testing.T, cancel context.CancelFunc) { cancel() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started, ended := make(chan struct{}), make(chan error, 1)
			addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				close(started)
				select {
				case <-r.Context().Done():
					ended <- r.Context().Err()
				case <-time.After(5 * time.Second):
					ended <- nil
				}
			}), nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
			resp, err := looptest.H2CClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			<-started
			tt.act(t, cancel)
			if err := <-ended; err == nil {
				t.Fatal("the handler's context was not cancelled")
			}
		})
	}
}

func TestAbortHandlerResetsTheStream(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.Write([]byte("partial"))
		panic(http.ErrAbortHandler)
	}), nil)
	resp, err := looptest.H2CClient(t).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || !strings.Contains(err.Error(), "INTERNAL_ERROR") {
		t.Fatalf("reading the aborted body: %v, want a stream reset", err)
	}
	// The connection serves on.
	resp, err = looptest.H2CClient(t).Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("after the reset: %v", err)
	}
	resp.Body.Close()
}

func TestManyConcurrentStreamsShareOneConnection(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}), &ServerConfig{MaxConcurrentStreams: 8})
	c := looptest.H2CClient(t)
	errs := make(chan error, 64)
	for i := range 64 {
		go func() {
			want := strings.Repeat(fmt.Sprint(i), 10000)
			resp, err := c.Post("http://"+addr+"/", "text/plain", strings.NewReader(want))
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && string(got) != want {
				err = fmt.Errorf("stream %d: echoed %d bytes", i, len(got))
			}
			errs <- err
		}()
	}
	for range 64 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
