package hcm

import (
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	preservecasev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/header_formatters/preserve_case/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/httpfilter"
	"github.com/outrider-mesh/outrider/proxy/listener/network"
	"github.com/outrider-mesh/outrider/proxy/route"
)

// Envoy's defaults, and ours where Envoy's does not fit a Go server.
const (
	defaultIdleTimeout       = time.Hour
	defaultStreamIdleTimeout = 5 * time.Minute
	defaultMaxHeadersKB      = 60
	defaultServerName        = "envoy"
	// defaultMaxStreams bounds concurrent HTTP/2 streams per connection.
	// Envoy's default (2^31-1) is unbounded; every stream here is a
	// goroutine, so we bound it and let max_concurrent_streams raise it.
	defaultMaxStreams = 1024
	// defaultWindow is the HTTP/2 receive window per stream and per
	// connection: memory held per upload, x/net's default.
	defaultWindow = 1 << 20
)

// RouterTypeURL is the typed_config type of envoy.filters.http.router,
// which must be the last HTTP filter.
var RouterTypeURL = "type.googleapis.com/" + string((&routerv3.Router{}).ProtoReflect().Descriptor().FullName())

var preserveCaseURL = "type.googleapis.com/" + string((&preservecasev3.PreserveCaseFormatterConfig{}).ProtoReflect().Descriptor().FullName())

// settings is the translated, immutable part of a connection manager.
type settings struct {
	codec             hcmv3.HttpConnectionManager_CodecType
	statPrefix        string
	idleTimeout       time.Duration // connection idle; 0 disables
	streamIdleTimeout time.Duration // 0 disables
	requestTimeout    time.Duration // 0 disables
	headersTimeout    time.Duration // 0 disables
	maxHeaderBytes    int
	generateRequestID bool
	preserveExtID     bool
	alwaysSetReqID    bool
	useRemoteAddress  bool
	skipXFFAppend     bool
	xffTrustedHops    int
	serverName        string
	serverHeader      hcmv3.HttpConnectionManager_ServerHeaderTransformation
	via               string
	upgrades          []string // lower-case upgrade types allowed
	acceptHTTP10      bool
	defaultHost10     string
	preserveCase      bool
	maxStreams        uint32
	streamWindow      int32
	connWindow        int32
}

var supportedFields = []string{
	"codec_type", "stat_prefix", "http_filters", "common_http_protocol_options",
	"http_protocol_options", "http2_protocol_options", "server_name",
	"server_header_transformation", "max_request_headers_kb", "stream_idle_timeout",
	"request_timeout", "request_headers_timeout", "access_log", "use_remote_address",
	"xff_num_trusted_hops", "skip_xff_append", "via", "generate_request_id",
	"preserve_external_request_id", "always_set_request_id_in_response",
	"upgrade_configs", "route_config", "rds",
}

// Translate builds a connection manager from pb, found at path p.
func Translate(pb *hcmv3.HttpConnectionManager, env *network.Env, p config.Path) (*ConnectionManager, error) {
	var errs config.Errors
	network.RejectUnhandled(&errs, pb, p, supportedFields...)
	s := settings{
		codec:             pb.GetCodecType(),
		statPrefix:        pb.GetStatPrefix(),
		idleTimeout:       defaultIdleTimeout,
		streamIdleTimeout: defaultStreamIdleTimeout,
		maxHeaderBytes:    defaultMaxHeadersKB * 1024,
		generateRequestID: true,
		preserveExtID:     pb.GetPreserveExternalRequestId(),
		alwaysSetReqID:    pb.GetAlwaysSetRequestIdInResponse(),
		useRemoteAddress:  pb.GetUseRemoteAddress().GetValue(),
		skipXFFAppend:     pb.GetSkipXffAppend(),
		xffTrustedHops:    int(pb.GetXffNumTrustedHops()),
		serverName:        defaultServerName,
		serverHeader:      pb.GetServerHeaderTransformation(),
		via:               pb.GetVia(),
		maxStreams:        defaultMaxStreams,
		streamWindow:      defaultWindow,
		connWindow:        defaultWindow,
	}
	if s.statPrefix == "" {
		errs.Addf(p.Field("stat_prefix"), "http_connection_manager: stat_prefix is required")
	}
	if s.codec == hcmv3.HttpConnectionManager_HTTP3 {
		errs.Addf(p.Field("codec_type"), "http_connection_manager: HTTP3 is not supported")
	}
	if o := pb.GetCommonHttpProtocolOptions(); o != nil {
		op := p.Field("common_http_protocol_options")
		network.RejectUnhandled(&errs, o, op, "idle_timeout")
		if d := o.GetIdleTimeout(); d != nil {
			s.idleTimeout = d.AsDuration()
		}
	}
	if d := pb.GetStreamIdleTimeout(); d != nil {
		s.streamIdleTimeout = d.AsDuration()
	}
	if d := pb.GetRequestTimeout(); d != nil {
		s.requestTimeout = d.AsDuration()
	}
	if d := pb.GetRequestHeadersTimeout(); d != nil {
		s.headersTimeout = d.AsDuration()
	}
	if kb := pb.GetMaxRequestHeadersKb(); kb != nil {
		s.maxHeaderBytes = int(kb.GetValue()) * 1024
	}
	if g := pb.GetGenerateRequestId(); g != nil {
		s.generateRequestID = g.GetValue()
	}
	if n := pb.GetServerName(); n != "" {
		s.serverName = n
	}
	translateHTTP1(pb.GetHttpProtocolOptions(), p.Field("http_protocol_options"), &s, &errs)
	translateHTTP2(pb.GetHttp2ProtocolOptions(), p.Field("http2_protocol_options"), &s, &errs)
	for i, u := range pb.GetUpgradeConfigs() {
		up := p.Field("upgrade_configs").Index(i)
		network.RejectUnhandled(&errs, u, up, "upgrade_type", "enabled")
		if !strings.EqualFold(u.GetUpgradeType(), "websocket") {
			errs.Addf(up.Field("upgrade_type"), "http_connection_manager: upgrade %q is not supported (websocket is)", u.GetUpgradeType())
		}
		if en := u.GetEnabled(); en == nil || en.GetValue() {
			s.upgrades = append(s.upgrades, strings.ToLower(u.GetUpgradeType()))
		}
	}

	cm := newConnectionManager(s, env)
	cm.handler = translateFilters(pb.GetHttpFilters(), env, cm, p.Field("http_filters"), &errs)

	switch {
	case pb.GetRds() != nil:
		errs.Addf(p.Field("rds"), "http_connection_manager: rds is not supported yet; use an inline route_config")
	case pb.GetRouteConfig() != nil:
		var hasCluster func(string) bool
		if env.Clusters != nil || env.LookupCluster != nil {
			hasCluster = func(name string) bool { return env.Cluster(name) != nil }
		}
		t, err := route.Translate(pb.GetRouteConfig(), hasCluster, p.Field("route_config"))
		if err != nil {
			errs.Add(p.Field("route_config"), err)
		}
		cm.routes.Store(t)
	default:
		errs.Addf(p.Field("route_config"), "http_connection_manager: route_config is required")
	}

	if logs := pb.GetAccessLog(); len(logs) > 0 {
		lp := p.Field("access_log")
		if al, err := env.AccessLoggers(logs, lp); err != nil {
			errs.Add(lp, err)
		} else {
			cm.accessLog = al
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return cm, nil
}

func translateHTTP1(o *corev3.Http1ProtocolOptions, p config.Path, s *settings, errs *config.Errors) {
	if o == nil {
		return
	}
	network.RejectUnhandled(errs, o, p, "accept_http_10", "default_host_for_http_10", "header_key_format")
	s.acceptHTTP10 = o.GetAcceptHttp_10()
	s.defaultHost10 = o.GetDefaultHostForHttp_10()
	if s.defaultHost10 != "" && !s.acceptHTTP10 {
		errs.Addf(p.Field("default_host_for_http_10"), "http_connection_manager: requires accept_http_10")
	}
	if hk := o.GetHeaderKeyFormat(); hk != nil {
		hp := p.Field("header_key_format")
		network.RejectUnhandled(errs, hk, hp, "stateful_formatter")
		if sf := hk.GetStatefulFormatter(); sf != nil {
			sp := hp.Field("stateful_formatter")
			network.RejectUnhandled(errs, sf, sp, "name", "typed_config")
			if sf.GetTypedConfig().GetTypeUrl() != preserveCaseURL {
				errs.Addf(sp.Field("typed_config"), "http_connection_manager: only the preserve_case formatter is supported")
			} else {
				pc := &preservecasev3.PreserveCaseFormatterConfig{}
				if err := anypb.UnmarshalTo(sf.GetTypedConfig(), pc, proto.UnmarshalOptions{}); err != nil {
					errs.Addf(sp.Field("typed_config"), "http_connection_manager: %w", err)
				}
				network.RejectUnhandled(errs, pc, sp.Field("typed_config"))
				s.preserveCase = true
			}
		}
	}
}

func translateHTTP2(o *corev3.Http2ProtocolOptions, p config.Path, s *settings, errs *config.Errors) {
	if o == nil {
		return
	}
	network.RejectUnhandled(errs, o, p, "max_concurrent_streams", "initial_stream_window_size", "initial_connection_window_size")
	if v := o.GetMaxConcurrentStreams(); v != nil {
		s.maxStreams = v.GetValue()
	}
	if v := o.GetInitialStreamWindowSize(); v != nil {
		s.streamWindow = int32(min(v.GetValue(), 1<<31-1))
	}
	if v := o.GetInitialConnectionWindowSize(); v != nil {
		s.connWindow = int32(min(v.GetValue(), 1<<31-1))
	}
}

// translateFilters builds the HTTP filter chain, outermost first; the
// router must be last.
func translateFilters(fs []*hcmv3.HttpFilter, env *network.Env, cm *ConnectionManager, p config.Path, errs *config.Errors) httpHandler {
	if len(fs) == 0 {
		errs.Addf(p, "http_connection_manager: http_filters must end with envoy.filters.http.router")
		return nil
	}
	fenv := &httpfilter.Env{Clusters: env.Clusters, Stats: env.Stats, Scope: cm.scope}
	built := make([]httpfilter.Filter, 0, len(fs))
	for i, f := range fs {
		fp := p.Index(i)
		network.RejectUnhandled(errs, f, fp, "name", "typed_config", "is_optional")
		tc := f.GetTypedConfig()
		if tc == nil {
			errs.Addf(fp.Field("typed_config"), "http_connection_manager: typed_config is required")
			continue
		}
		if i == len(fs)-1 && tc.GetTypeUrl() != RouterTypeURL {
			errs.Addf(fp, "http_connection_manager: the last http filter must be envoy.filters.http.router")
		}
		if i < len(fs)-1 && tc.GetTypeUrl() == RouterTypeURL {
			errs.Addf(fp, "http_connection_manager: envoy.filters.http.router must be the last http filter")
		}
		factory := env.HTTPFilters[tc.GetTypeUrl()]
		if factory == nil {
			if f.GetIsOptional() {
				continue
			}
			errs.Addf(fp.Field("typed_config"), "%s is not supported", f.GetName())
			continue
		}
		msg, err := tc.UnmarshalNew()
		if err != nil {
			errs.Addf(fp.Field("typed_config"), "http_connection_manager: %w", err)
			continue
		}
		filter, err := factory(msg, fenv, fp.Field("typed_config"))
		if err != nil {
			errs.Add(fp.Field("typed_config"), err)
			continue
		}
		built = append(built, filter)
	}
	var h httpHandler = terminal{}
	for i := len(built) - 1; i >= 0; i-- {
		h = built[i](h)
	}
	return h
}
