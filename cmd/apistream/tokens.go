package main

import (
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"

	"github.com/apistream/apistream"
	"github.com/apistream/apistream/internal/auth"
)

func newTokensCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "Make hub tokens (JWTs) for subscribers and publishers"}
	cmd.AddCommand(newTokensCreateCmd(cf))
	return cmd
}

// tokenOutput is what `tokens create --json` prints.
type tokenOutput struct {
	Token     string     `json:"token"`
	Subject   string     `json:"sub"`
	Subscribe []string   `json:"subscribe"`
	Publish   []string   `json:"publish"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func newTokensCreateCmd(cf *clientFlags) *cobra.Command {
	var (
		sub, secret, keyFile string
		subscribe, publish   []string
		ttl                  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Sign a token with the server's key, for operators",
		Long: `Sign a token with the server's key: the HS256 secret (--jwt-secret or APISTREAM_JWT_SECRET, as
given to serve) or, for RS256/ES256/EdDSA, the private key whose public half serve has (--jwt-private-key).`,
		Example: `  APISTREAM_JWT_SECRET=... apistream tokens create --sub 42 --subscribe 'news/**' --ttl 24h`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("jwt-secret") {
				secret = os.Getenv("APISTREAM_JWT_SECRET")
			}
			if ttl < 0 {
				return apistream.Invalidf("ttl", "ttl cannot be negative")
			}
			now := time.Now()
			c := auth.Claims{Apistream: auth.Grants{Subscribe: subscribe, Publish: publish}}
			c.Subject = sub
			c.IssuedAt = jwt.NewNumericDate(now)
			out := tokenOutput{Subject: sub, Subscribe: subscribe, Publish: publish}
			if ttl > 0 {
				exp := now.Add(ttl).Truncate(time.Second)
				c.ExpiresAt = jwt.NewNumericDate(exp)
				out.ExpiresAt = &exp
			}
			var err error
			switch {
			case keyFile != "":
				out.Token, err = auth.SignWithKeyFile(keyFile, c)
			case secret != "":
				out.Token, err = auth.SignHS256([]byte(secret), c)
			default:
				return apistream.Invalidf("jwt-secret", "give the server's key: --jwt-secret (or APISTREAM_JWT_SECRET) or --jwt-private-key")
			}
			if err != nil {
				return err
			}
			if cf.json {
				return printJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Token)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&sub, "sub", "", "subject: the user the token is for (its /v1/users/{sub}/stream)")
	f.StringSliceVar(&subscribe, "subscribe", nil, "topic pattern the token may subscribe to (repeatable)")
	f.StringSliceVar(&publish, "publish", nil, "topic pattern the token may publish to (repeatable)")
	f.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid (0: no expiry)")
	f.StringVar(&secret, "jwt-secret", "", "the server's HS256 secret (env APISTREAM_JWT_SECRET)")
	f.StringVar(&keyFile, "jwt-private-key", "", "PEM private key file for RS256, ES256 or EdDSA")
	return cmd
}
