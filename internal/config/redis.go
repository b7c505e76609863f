package config

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/redis/go-redis/v9"
)

// RedisOptions builds go-redis options for redis.NewUniversalClient from
// REDIS_URL, REDIS_PASSWORD, REDIS_TLS_CA_FILE, REDIS_MODE and
// REDIS_SENTINEL_MASTER. It returns nil, nil when REDIS_URL is empty
// (in-memory state); check UsesRedis first.
//
//   - single: redis[s]://[user:password@]host:port[/db][?params]
//   - cluster: the URL names one seed node; more seeds as &addr=host:port.
//     IsClusterMode is set, so one seed is enough.
//   - sentinel: the URL names a Sentinel (more as &addr=host:port); its
//     user:password authenticate to the Sentinels, REDIS_PASSWORD to the
//     master and replicas; the master name is REDIS_SENTINEL_MASTER.
//
// Query parameters are go-redis's (dial_timeout, read_timeout, pool_size,
// ...). rediss:// enables TLS 1.2+ verified against the system roots, or
// against REDIS_TLS_CA_FILE when set; each node is verified against its own
// address.
func (c *Config) RedisOptions() (*redis.UniversalOptions, error) {
	if c.RedisURL == "" {
		return nil, nil
	}
	return c.redisOptions()
}

func (c *Config) redisOptions() (*redis.UniversalOptions, error) {
	raw := string(c.RedisURL)
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("REDIS_URL is not a valid URL")
	}
	password := c.RedisPassword.Reveal()
	tlsOn := u.Scheme == "rediss"

	var o *redis.UniversalOptions
	switch c.RedisMode {
	case RedisCluster:
		co, err := redis.ParseClusterURL(raw)
		if err != nil {
			return nil, err
		}
		o = &redis.UniversalOptions{
			Addrs:           co.Addrs,
			IsClusterMode:   true,
			ClientName:      co.ClientName,
			Protocol:        co.Protocol,
			Username:        co.Username,
			Password:        co.Password,
			MaxRetries:      co.MaxRetries,
			MinRetryBackoff: co.MinRetryBackoff,
			MaxRetryBackoff: co.MaxRetryBackoff,
			DialTimeout:     co.DialTimeout,
			ReadTimeout:     co.ReadTimeout,
			WriteTimeout:    co.WriteTimeout,
			PoolFIFO:        co.PoolFIFO,
			PoolSize:        co.PoolSize,
			PoolTimeout:     co.PoolTimeout,
			MinIdleConns:    co.MinIdleConns,
			MaxIdleConns:    co.MaxIdleConns,
			MaxActiveConns:  co.MaxActiveConns,
			ConnMaxIdleTime: co.ConnMaxIdleTime,
			ConnMaxLifetime: co.ConnMaxLifetime,
			MaxRedirects:    co.MaxRedirects,
			ReadOnly:        co.ReadOnly,
			RouteByLatency:  co.RouteByLatency,
			RouteRandomly:   co.RouteRandomly,
		}
		if password != "" {
			o.Password = password
		}
	case RedisSentinel:
		fo, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return nil, err
		}
		master := c.RedisSentinelMaster
		if master == "" {
			master = fo.MasterName
		}
		o = &redis.UniversalOptions{
			Addrs:            fo.SentinelAddrs,
			MasterName:       master,
			SentinelUsername: fo.SentinelUsername,
			SentinelPassword: fo.SentinelPassword,
			DB:               fo.DB,
			ClientName:       fo.ClientName,
			Protocol:         fo.Protocol,
			Username:         fo.Username,
			Password:         password,
			MaxRetries:       fo.MaxRetries,
			MinRetryBackoff:  fo.MinRetryBackoff,
			MaxRetryBackoff:  fo.MaxRetryBackoff,
			DialTimeout:      fo.DialTimeout,
			ReadTimeout:      fo.ReadTimeout,
			WriteTimeout:     fo.WriteTimeout,
			PoolFIFO:         fo.PoolFIFO,
			PoolSize:         fo.PoolSize,
			PoolTimeout:      fo.PoolTimeout,
			MinIdleConns:     fo.MinIdleConns,
			MaxIdleConns:     fo.MaxIdleConns,
			MaxActiveConns:   fo.MaxActiveConns,
			ConnMaxIdleTime:  fo.ConnMaxIdleTime,
			ConnMaxLifetime:  fo.ConnMaxLifetime,
			RouteByLatency:   fo.RouteByLatency,
			RouteRandomly:    fo.RouteRandomly,
		}
	default:
		so, err := redis.ParseURL(raw)
		if err != nil {
			return nil, err
		}
		o = &redis.UniversalOptions{
			Addrs:           []string{so.Addr},
			DB:              so.DB,
			ClientName:      so.ClientName,
			Protocol:        so.Protocol,
			Username:        so.Username,
			Password:        so.Password,
			MaxRetries:      so.MaxRetries,
			MinRetryBackoff: so.MinRetryBackoff,
			MaxRetryBackoff: so.MaxRetryBackoff,
			DialTimeout:     so.DialTimeout,
			ReadTimeout:     so.ReadTimeout,
			WriteTimeout:    so.WriteTimeout,
			PoolFIFO:        so.PoolFIFO,
			PoolSize:        so.PoolSize,
			PoolTimeout:     so.PoolTimeout,
			MinIdleConns:    so.MinIdleConns,
			MaxIdleConns:    so.MaxIdleConns,
			MaxActiveConns:  so.MaxActiveConns,
			ConnMaxIdleTime: so.ConnMaxIdleTime,
			ConnMaxLifetime: so.ConnMaxLifetime,
		}
		if password != "" {
			o.Password = password
		}
	}
	if len(o.Addrs) == 0 {
		return nil, fmt.Errorf("REDIS_URL names no address")
	}
	if tlsOn {
		o.TLSConfig = c.tlsConfig()
	}
	return o, nil
}
