package main

// GetRequiredPackages and the helpers below are upstream's (sdk/python/cmd/pulumi-language-python/main.go,
// Pulumi Corporation, Apache-2.0), adapted to our host (installedPackages is ours): the plugins a program
// needs are those of the Pulumi packages installed in its environment (a pulumi-plugin.json in the package,
// or a `pulumi-` name).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// GetRequiredPackages reports the plugin of every Pulumi package installed in the program's environment
// (creating the virtualenv first if it does not exist yet, as upstream does).
func (h *languageHost) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	packages, err := requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: packages}, nil
}

// GetRequiredPlugins is GetRequiredPackages for engines that still ask the old way.
func (h *languageHost) GetRequiredPlugins(
	ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	packages, err := requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	plugins := make([]*pulumirpc.PluginDependency, 0, len(packages))
	for _, pkg := range packages {
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Name: pkg.GetName(), Kind: pkg.GetKind(), Version: pkg.GetVersion(), Server: pkg.GetServer(),
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

func requiredPackages(ctx context.Context, info *pulumirpc.ProgramInfo) ([]*pulumirpc.PackageDependency, error) {
	tc, _, err := resolve(info)
	if err != nil {
		return nil, err
	}
	if err := tc.EnsureVenv(ctx, info.GetProgramDirectory(), false, /* useLanguageVersionTools */
		true /* showOutput */, os.Stderr, os.Stderr); err != nil {
		return nil, err
	}
	infos, err := listPulumiPackageInfos(ctx, tc)
	if err != nil {
		return nil, err
	}
	packages := []*pulumirpc.PackageDependency{}
	for _, found := range infos {
		pkg, err := packageDependencyFromPluginJSON(found.DependencyInfo, found.PluginJSON)
		if err != nil {
			return nil, err
		}
		if pkg != nil {
			packages = append(packages, pkg)
		}
	}
	return packages, nil
}

// These packages are known not to have any plugins.
// TODO[pulumi/pulumi#5863]: Remove this once the `pulumi-policy` package includes a `pulumi-plugin.json`
// file that indicates the package does not have an associated plugin, and enough time has passed.
var packagesWithoutPlugins = map[string]struct{}{
	"pulumi-policy":  {},
	"pulumi-esc-sdk": {},
}

// installedPackagesScript lists the distributions installed in the program's environment, each with its
// normalised name, version and the path of the pulumi-plugin.json in its package (empty if none). Ours, not
// upstream's: upstream runs `pip list` (2 s here, on every up/preview/refresh/destroy) and then a script
// like this one for the plugin files; one interpreter start (0.2 s) gives the same answer.
const installedPackagesScript = `import importlib.metadata, importlib.util, json, os, re
result = []
for dist in importlib.metadata.distributions():
	name = dist.metadata['Name']
	if not name:
		continue
	path = ''
	try:
		spec = importlib.util.find_spec(name.replace('-', '_'))
		for location in (spec.submodule_search_locations or []) if spec else []:
			candidate = os.path.join(str(location), 'pulumi-plugin.json')
			if os.path.isfile(candidate):
				path = candidate
				break
	except Exception:
		pass
	result.append({'name': re.sub(r'[-_.]+', '-', name).lower(), 'version': dist.version, 'plugin': path})
print(json.dumps(result))`

// installedPackages runs installedPackagesScript with the program's interpreter.
func installedPackages(ctx context.Context, tc toolchain.Toolchain) ([]plugin.DependencyInfo, map[string]string, error) {
	cmd, err := tc.Command(ctx, "-c", installedPackagesScript)
	if err != nil {
		return nil, nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("listing the packages installed for the program (%s): %w", cmd.Path, err)
	}
	var found []struct{ Name, Version, Plugin string }
	if err := json.Unmarshal(out, &found); err != nil {
		return nil, nil, fmt.Errorf("reading the list of installed packages: %w", err)
	}
	packages := make([]plugin.DependencyInfo, len(found))
	pluginJSONPaths := make(map[string]string, len(found))
	for i, pkg := range found {
		packages[i] = plugin.DependencyInfo{Name: pkg.Name, Version: pkg.Version}
		pluginJSONPaths[pkg.Name] = pkg.Plugin
	}
	return packages, pluginJSONPaths, nil
}

// pulumiPackageInfo holds a Python package together with its parsed pulumi-plugin.json, if any.
type pulumiPackageInfo struct {
	DependencyInfo plugin.DependencyInfo
	PluginJSON     *plugin.PulumiPluginJSON
}

// listPulumiPackageInfos returns the Pulumi packages in the current environment along with their pulumi-plugin.json
// data.
func listPulumiPackageInfos(ctx context.Context, tc toolchain.Toolchain) ([]pulumiPackageInfo, error) {
	packages, pluginJSONPaths, err := installedPackages(ctx, tc)
	if err != nil {
		return nil, err
	}

	var result []pulumiPackageInfo
	for _, pkg := range packages {
		// Skip packages that are known not to have an associated plugin.
		if _, ok := packagesWithoutPlugins[pkg.Name]; ok {
			continue
		}

		var pluginJSON *plugin.PulumiPluginJSON
		if path := pluginJSONPaths[pkg.Name]; path != "" {
			data, err := os.ReadFile(path)
			if err != nil {
				logging.V(5).Infof("listPulumiPackageInfos: failed to read %s: %v", path, err)
			} else {
				pluginJSON = &plugin.PulumiPluginJSON{}
				if err := json.Unmarshal(data, pluginJSON); err != nil {
					return nil, fmt.Errorf("failed to parse pulumi-plugin.json for %s: %w", pkg.Name, err)
				}
			}
		}

		// A package is a Pulumi package if it has a pulumi-plugin.json or its name starts with "pulumi-". Packages are
		// generated with a pulumi-plugin.json for a while now, and eventually we should get rid of the name prefix
		// check.
		if pluginJSON == nil && !strings.HasPrefix(pkg.Name, "pulumi-") {
			continue
		}

		result = append(result, pulumiPackageInfo{DependencyInfo: pkg, PluginJSON: pluginJSON})
	}

	return result, nil
}

// packageDependencyFromPluginJSON converts a Python package and its pulumi-plugin.json data (if any) into a
// PackageDependency.
//
// If `resource` in pulumi-plugin.json is set to false, nil is returned. If the name or version aren't specified in the
// file, these values are derived from the package name and version. If the plugin version cannot be determined from the
// package version, nil is returned.
func packageDependencyFromPluginJSON(
	pkg plugin.DependencyInfo, p *plugin.PulumiPluginJSON,
) (*pulumirpc.PackageDependency, error) {
	var name, version, server string
	var parameterization *pulumirpc.PackageParameterization
	var extension *pulumirpc.PackageParameterization
	if p != nil {
		// If `resource` is set to false, the Pulumi package has indicated that there is no associated plugin.
		// Ignore it.
		if !p.Resource {
			logging.V(5).Infof("GetRequiredPlugins: Ignoring package %s with resource set to false", pkg.Name)
			return nil, nil
		}

		if p.Parameterization != nil {
			parameterization = &pulumirpc.PackageParameterization{
				Name:    p.Parameterization.Name,
				Version: p.Parameterization.Version,
				Value:   p.Parameterization.Value,
			}
		}

		if p.ExtensionParameterization != nil {
			extension = &pulumirpc.PackageParameterization{
				Name:    p.ExtensionParameterization.Name,
				Version: p.ExtensionParameterization.Version,
				Value:   p.ExtensionParameterization.Value,
			}
		}

		name, version, server = p.Name, p.Version, p.Server
	}

	if name == "" {
		name = strings.TrimPrefix(pkg.Name, "pulumi-")
	}

	if version == "" {
		// The packageVersion may include additional pre-release tags (e.g. "2.14.0a1605583329" for an alpha
		// release, "2.14.0b1605583329" for a beta release, "2.14.0rc1605583329" for an rc release, etc.).
		// Unfortunately, this is not enough information to determine the plugin version. A package version of
		// "3.31.0a1605189729" will have an associated plugin with a version of "3.31.0-alpha.1605189729+42435656".
		// The "+42435656" suffix cannot be determined so the plugin version cannot be determined. In such cases,
		// log the issue and skip the package.
		v, err := determinePluginVersion(pkg.Version)
		if err != nil {
			logging.V(5).Infof(
				"GetRequiredPlugins: Could not determine plugin version for package %s with version %s: %s",
				pkg.Name, pkg.Version, err)
			return nil, nil
		}
		version = v
	}
	if !strings.HasPrefix(version, "v") {
		// Add "v" prefix if not already present.
		version = "v" + version
	}

	result := &pulumirpc.PackageDependency{
		Name:             name,
		Version:          version,
		Kind:             "resource",
		Server:           server,
		Parameterization: parameterization,
		Extension:        extension,
	}

	logging.V(5).Infof("GetRequiredPlugins: Determining plugin dependency: %#v", result)
	return result, nil
}

// determinePluginVersion attempts to convert a PEP440 package version into a plugin version.
//
// Supported versions:
//
//	PEP440 defines a version as `[N!]N(.N)*[{a|b|rc}N][.postN][.devN]`, but
//	determinePluginVersion only supports a subset of that. Translations are provided for
//	`N(.N)*[{a|b|rc}N][.postN][.devN]`.
//
// Translations:
//
//	We ensure that there are at least 3 version segments. Missing segments are `0`
//	padded.
//	Example: 1.0 => 1.0.0
//
//	We translate a,b,rc to alpha,beta,rc respectively with a hyphen separator.
//	Example: 1.2.3a4 => 1.2.3-alpha.4, 1.2.3rc4 => 1.2.3-rc.4
//
//	We translate `.post` and `.dev` by replacing the `.` with a `+`. If both `.post`
//	and `.dev` are present, only one separator is used.
//	Example: 1.2.3.post4 => 1.2.3+post4, 1.2.3.post4.dev5 => 1.2.3+post4dev5
//
// Reference on PEP440: https://www.python.org/dev/peps/pep-0440/
func determinePluginVersion(packageVersion string) (string, error) {
	if len(packageVersion) == 0 {
		return "", errors.New("cannot parse empty string")
	}
	// Verify ASCII
	for i := 0; i < len(packageVersion); i++ {
		c := packageVersion[i]
		if c > unicode.MaxASCII {
			return "", fmt.Errorf("byte %d is not ascii", i)
		}
	}

	parseNumber := func(s string) (string, string) {
		i := 0
		for _, c := range s {
			if c > '9' || c < '0' {
				break
			}
			i++
		}
		return s[:i], s[i:]
	}

	// Explicitly err on epochs
	if num, maybeEpoch := parseNumber(packageVersion); num != "" && strings.HasPrefix(maybeEpoch, "!") {
		return "", errors.New("epochs are not supported")
	}

	segments := []string{}
	var num string
	rest := packageVersion
	foundDot := false
	for {
		if num, rest = parseNumber(rest); num != "" {
			foundDot = false
			segments = append(segments, num)
			if strings.HasPrefix(rest, ".") {
				rest = rest[1:]
				foundDot = true
			} else {
				break
			}
		} else {
			break
		}
	}
	if foundDot {
		rest = "." + rest
	}

	for len(segments) < 3 {
		segments = append(segments, "0")
	}

	if rest == "" {
		r := strings.Join(segments, ".")
		return r, nil
	}

	var preRelease string

	switch {
	case rest[0] == 'a':
		preRelease, rest = parseNumber(rest[1:])
		preRelease = "-alpha." + preRelease
	case rest[0] == 'b':
		preRelease, rest = parseNumber(rest[1:])
		preRelease = "-beta." + preRelease
	case strings.HasPrefix(rest, "rc"):
		preRelease, rest = parseNumber(rest[2:])
		preRelease = "-rc." + preRelease
	}

	var postRelease string
	if strings.HasPrefix(rest, ".post") {
		postRelease, rest = parseNumber(rest[5:])
		postRelease = "+post" + postRelease
	}

	var developmentRelease string
	if strings.HasPrefix(rest, ".dev") {
		developmentRelease, rest = parseNumber(rest[4:])
		join := ""
		if postRelease == "" {
			join = "+"
		}
		developmentRelease = join + "dev" + developmentRelease
	}

	if rest != "" {
		return "", fmt.Errorf("'%s' still unparsed", rest)
	}

	result := strings.Join(segments, ".") + preRelease + postRelease + developmentRelease

	return result, nil
}
