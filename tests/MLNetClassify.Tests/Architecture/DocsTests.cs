using System.Text.RegularExpressions;

namespace MLNetClassify.Tests.Architecture;

/// <summary>
/// README.md is a front page and docs/ holds the rest: every relative link in them resolves (file, and heading when
/// it names one), the README stays short and lists every page, and the pages that quote the code's facts (the
/// layer order, the test command CI runs) say what the code says.
/// </summary>
public partial class DocsTests
{
    private static string Root => TestPaths.RepoRoot;

    /// <summary>README.md and every page under docs/, as repository-relative paths.</summary>
    private static List<string> Pages() =>
        new[] { "README.md" }
            .Concat(Directory.EnumerateFiles(Path.Combine(Root, "docs"), "*.md", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(Root, f)))
            .ToList();

    [Fact]
    public void EveryRelativeLink_InReadmeAndDocs_PointsAtAnExistingFileAndHeading()
    {
        var broken = new List<string>();
        int checkedLinks = 0;
        foreach (var page in Pages())
        {
            var text = File.ReadAllText(Path.Combine(Root, page));
            var folder = Path.GetDirectoryName(Path.Combine(Root, page))!;
            foreach (var (line, target) in Links(text))
            {
                if (Scheme().IsMatch(target))
                    continue;                                    // https:, mailto: ...: not ours to check here
                int hash = target.IndexOf('#');
                var file = hash < 0 ? target : target[..hash];
                var anchor = hash < 0 ? null : Uri.UnescapeDataString(target[(hash + 1)..]);
                var full = file.Length == 0 ? Path.Combine(Root, page) : Path.GetFullPath(Path.Combine(folder, Uri.UnescapeDataString(file)));
                if (!Checkable(full))
                    continue;
                checkedLinks++;
                if (!File.Exists(full) && !Directory.Exists(full))
                    broken.Add($"{page}:{line}: {target} (no such file)");
                else if (anchor is not null && full.EndsWith(".md", StringComparison.OrdinalIgnoreCase)
                         && !Anchors(File.ReadAllText(full)).Contains(anchor))
                    broken.Add($"{page}:{line}: {target} (no heading '#{anchor}' there)");
            }
        }
        Assert.True(broken.Count == 0, "broken links:\n" + string.Join("\n", broken));
        Assert.True(checkedLinks >= 30, $"only {checkedLinks} relative links found: is the link reader broken?");
    }

    /// <summary>
    /// Inside the repository every link is checked; a link to the shared folder beside a clone (measurement notes,
    /// data) only where that folder exists, as tests that read the shared data skip without it.
    /// </summary>
    private static bool Checkable(string full)
    {
        var root = Path.GetFullPath(Root) + Path.DirectorySeparatorChar;
        if (full.StartsWith(root, StringComparison.Ordinal))
            return true;
        var shared = Path.GetFullPath(Path.Combine(Root, "..", "shared"));
        return full.StartsWith(shared + Path.DirectorySeparatorChar, StringComparison.Ordinal) && Directory.Exists(shared);
    }

    [Fact]
    public void Readme_IsAFrontPage_OfAtMost250Lines_LinkingEveryDocsPage()
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        Assert.InRange(File.ReadAllLines(Path.Combine(Root, "README.md")).Length, 1, 250);
        var linked = Links(readme).Select(l => l.Target.Split('#')[0]).ToHashSet();
        var unlinked = Pages().Skip(1).Select(p => p.Replace(Path.DirectorySeparatorChar, '/')).Where(p => !linked.Contains(p)).ToList();
        Assert.True(unlinked.Count == 0, "docs pages the README does not link: " + string.Join(", ", unlinked));
    }

    [Fact]
    public void ReadmeTestCommand_IsTheCommandCiRuns()
    {
        // .ci/run ends with the README's test command; a reader copying it runs what CI runs.
        var ci = File.ReadAllLines(Path.Combine(Root, ".ci", "run")).Last(l => l.StartsWith("dotnet test", StringComparison.Ordinal));
        var firstBlock = BashBlock().Match(File.ReadAllText(Path.Combine(Root, "README.md")));
        Assert.True(firstBlock.Success, "the README does not start with a ```bash block of commands");
        var commands = firstBlock.Groups["code"].Value.Split('\n').Select(l => l.Split('#')[0].Trim()).ToList();
        Assert.Contains(ci.Trim(), commands);
    }

    [Fact]
    public void ArchitecturePage_ListsTheLibraryFolders_InLayerTestsOrder()
    {
        // docs/architecture.md's layout block is the order LayerTests enforces: one line a layer, siblings on one line.
        var page = File.ReadAllText(Path.Combine(Root, "docs", "architecture.md"));
        var layout = FirstBlock().Match(page);
        Assert.True(layout.Success, "docs/architecture.md has no layout block");
        var listed = LayerLine().Matches(layout.Groups["code"].Value).Select(m => string.Join(" ", m.Groups["folders"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => f.TrimEnd('/')))).ToList();
        var enforced = LayerTests.Layers.Select(level => string.Join(" ", level)).ToList();
        Assert.Equal(enforced, listed);
    }

    /// <summary>Inline links and images, and reference definitions, outside code fences and code spans.</summary>
    internal static IEnumerable<(int Line, string Target)> Links(string markdown)
    {
        var lines = markdown.Split('\n');
        bool fenced = false;
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                fenced = !fenced;
                continue;
            }
            if (fenced)
                continue;
            var text = CodeSpan().Replace(lines[i], "");
            foreach (Match m in InlineLink().Matches(text))
                yield return (i + 1, m.Groups["target"].Value);
            var reference = ReferenceDefinition().Match(text);
            if (reference.Success)
                yield return (i + 1, reference.Groups["target"].Value);
        }
    }

    /// <summary>The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as '-', repeats numbered.</summary>
    internal static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        bool fenced = false;
        foreach (var line in markdown.Split('\n'))
        {
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal))
                fenced = !fenced;
            var heading = fenced ? Match.Empty : Heading().Match(line);
            if (!heading.Success)
                continue;
            var slug = NotInSlug().Replace(heading.Groups["text"].Value.Trim().ToLowerInvariant(), "").Replace(' ', '-');
            int n = seen.GetValueOrDefault(slug);
            seen[slug] = n + 1;
            anchors.Add(n == 0 ? slug : $"{slug}-{n}");
        }
        return anchors;
    }

    [GeneratedRegex(@"!?\[[^\]]*\]\((?<target>[^)\s]+)(?:\s+""[^""]*"")?\)")]
    private static partial Regex InlineLink();

    [GeneratedRegex(@"^\s{0,3}\[[^\]]+\]:\s*(?<target>\S+)")]
    private static partial Regex ReferenceDefinition();

    [GeneratedRegex(@"`[^`]*`")]
    private static partial Regex CodeSpan();

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9+.-]*:")]
    private static partial Regex Scheme();

    [GeneratedRegex(@"^#{1,6}\s+(?<text>.+?)\s*#*\s*$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"[^\p{L}\p{Nd}\p{Mn}\p{Pc} -]")]
    private static partial Regex NotInSlug();

    [GeneratedRegex(@"^```bash\n(?<code>.*?)```", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex BashBlock();

    [GeneratedRegex(@"^```\n(?<code>.*?)```", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex FirstBlock();

    [GeneratedRegex(@"^  (?<folders>(?:[A-Z][A-Za-z]+/ )*[A-Z][A-Za-z]+/)(?= )", RegexOptions.Multiline)]
    private static partial Regex LayerLine();
}
