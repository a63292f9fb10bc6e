package wsconn_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// A pool of connections to one venue: at most two streams per connection
// and two connections, every dial of every connection within one budget.
// A stream beyond the pool's room is refused, never dropped.
func ExamplePool() {
	// A venue on loopback that acknowledges "sub:STREAM" with "ack:STREAM".
	srv, err := wsconntest.NewTCPServer("", wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
		if stream, ok := strings.CutPrefix(string(m.Data), "sub:"); ok {
			_ = c.SendText(c.Context(), "ack:"+stream)
		}
		return true
	})))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	budget, err := wsconn.NewDialBudget(300, 5*time.Minute) // Binance: 300 connections per 5 minutes per IP
	if err != nil {
		log.Fatal(err)
	}
	stream := func(name string) wsconn.Subscription {
		return wsconn.Subscription{
			Key:     name,
			Message: []byte("sub:" + name),
			Ack:     func(m wsconn.Message) bool { return string(m.Data) == "ack:"+name },
		}
	}
	// NewPool shards the first streams and waits until every connection
	// has subscribed them.
	p, err := wsconn.NewPool(ctx, srv.URL, wsconn.PoolConfig{MaxPerConn: 2, MaxConns: 2, DialBudget: budget},
		wsconn.WithSubscriptions(stream("btcusdt@trade"), stream("ethusdt@trade"), stream("solusdt@trade")))
	if err != nil {
		log.Fatal(err)
	}
	// More streams go where there is room, each awaiting its ack.
	for _, name := range []string{"xrpusdt@trade", "dogeusdt@trade"} {
		err := p.Subscribe(ctx, stream(name))
		switch {
		case errors.Is(err, wsconn.ErrPoolFull):
			fmt.Println("refused:", name)
		case err != nil:
			log.Fatal(err)
		}
	}
	// Each connection replays its own streams whenever it reconnects.
	for i, c := range p.Conns() {
		fmt.Println("connection", i, c.Subscriptions())
	}
	fmt.Println("dials:", budget.Stats().Admitted)
	fmt.Println("closed:", p.Close(context.Background()), p.Err())
	// Output:
	// refused: dogeusdt@trade
	// connection 0 [btcusdt@trade ethusdt@trade]
	// connection 1 [solusdt@trade xrpusdt@trade]
	// dials: 2
	// closed: <nil> session: client closed
}
