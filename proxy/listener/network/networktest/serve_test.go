package networktest

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/proxy/listener/network"
)

// greeter answers each connection with its addresses as the filter saw them.
type greeter struct{ ctxEnded chan bool }

func (g greeter) ServeConn(ctx context.Context, c *network.Conn) {
	io.WriteString(c, c.Local.String()+" "+c.Remote.String())
	c.Close()
	<-ctx.Done()
	g.ctxEnded <- true
}

func (greeter) Drain() {}

func TestServeHandsTheFilterTheConnectionAndEndsItsContextAtTheEnd(t *testing.T) {
	g := greeter{ctxEnded: make(chan bool, 1)}
	var local string
	t.Run("a connection", func(t *testing.T) {
		addr := Serve(t, g)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		local = c.LocalAddr().String()
		if want := addr + " " + local; string(got) != want {
			t.Fatalf("filter saw %q, want %q", got, want)
		}
	})
	select {
	case <-g.ctxEnded:
	default:
		t.Fatal("the filter's context did not end with the test")
	}
}
