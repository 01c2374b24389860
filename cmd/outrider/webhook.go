package main

import (
	"context"
	"errors"
)

func runWebhook(ctx context.Context, args []string, env *stdio) error {
	return errors.New("not yet")
}
