package postgres

import (
	"fmt"

	"github.com/jackc/pgx/v5"
)

// pgconnConfig parses a connection string. Errors name no password: the string may hold one.
func pgconnConfig(url string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open db: bad database url")
	}
	return cfg, nil
}
