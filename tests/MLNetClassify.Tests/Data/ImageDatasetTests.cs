using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Cli.Commands;
using MLNetClassify.Data;

namespace MLNetClassify.Tests.Data;

public class ImageDatasetTests
{
    private static string MakeFolder()
    {
        var root = TestPaths.NewTempDirectory();
        Directory.CreateDirectory(Path.Combine(root, "cat"));
        Directory.CreateDirectory(Path.Combine(root, "dog", "nested"));
        File.WriteAllBytes(Path.Combine(root, "cat", "b.JPG"), TestImages.Jpeg(1, true));
        File.WriteAllBytes(Path.Combine(root, "cat", "a.png"), TestImages.Jpeg(2, true));
        File.WriteAllText(Path.Combine(root, "cat", "notes.txt"), "not an image");
        File.WriteAllBytes(Path.Combine(root, "dog", "c.jpeg"), TestImages.Jpeg(3, false));
        File.WriteAllBytes(Path.Combine(root, "dog", "nested", "d.Gif"), TestImages.Jpeg(4, false));
        File.WriteAllBytes(Path.Combine(root, "dog", "e.bmp"), TestImages.Jpeg(5, false));
        File.WriteAllBytes(Path.Combine(root, "stray.jpg"), TestImages.Jpeg(6, false));
        return root;
    }

    [Fact]
    public void FromFolder_LabelsBySubfolder_CaseInsensitiveExtensions_Sorted()
    {
        var root = MakeFolder();
        var images = ImageDataset.FromFolder(root);
        Assert.Equal(["cat", "cat", "dog", "dog", "dog"], images.Select(i => i.Label));
        Assert.Equal(["a.png", "b.JPG", "c.jpeg", "e.bmp", "d.Gif"], images.Select(i => Path.GetFileName(i.ImagePath)));
        Assert.All(images, i => Assert.True(Path.IsPathRooted(i.ImagePath)));
    }

    [Fact]
    public void FromFolder_ThrowsForMissingOrEmptyFolder()
    {
        var missing = Path.Combine(TestPaths.NewTempDirectory(), "nope");
        var e = Assert.Throws<DirectoryNotFoundException>(() => ImageDataset.FromFolder(missing));
        Assert.Contains(missing, e.Message);
        var empty = TestPaths.NewTempDirectory();
        Directory.CreateDirectory(Path.Combine(empty, "label"));
        Assert.Throws<InvalidDataException>(() => ImageDataset.FromFolder(empty));
    }

    [Theory]
    [InlineData("path\tlabel", '\t')]
    [InlineData("label,extra,path", ',')]
    public void FromManifest_ReadsPathAndLabelColumnsInAnyOrder(string header, char separator)
    {
        var root = MakeFolder();
        var columns = header.Split(separator);
        string Line(string path, string label) => string.Join(separator, columns.Select(c => c == "path" ? path : c == "label" ? label : "x"));
        var manifest = Path.Combine(root, "manifest.txt");
        File.WriteAllLines(manifest, [header, Line("cat/a.png", "kitty"), "", Line(Path.Combine(root, "dog", "c.jpeg"), "puppy")]);
        var images = ImageDataset.FromManifest(manifest);
        Assert.Equal(["kitty", "puppy"], images.Select(i => i.Label));
        Assert.Equal(Path.Combine(root, "cat", "a.png"), images[0].ImagePath);
        Assert.True(File.Exists(images[1].ImagePath));
    }

    [Fact]
    public void FromManifest_MalformedLine_ErrorNamesFileAndLine()
    {
        var root = TestPaths.NewTempDirectory();
        var manifest = Path.Combine(root, "m.tsv");
        File.WriteAllLines(manifest, ["path\tlabel", "a.jpg\tcat", "b.jpg"]);
        var e = Assert.Throws<InvalidDataException>(() => ImageDataset.FromManifest(manifest));
        Assert.Contains($"{manifest}:3", e.Message);
        File.WriteAllLines(manifest, ["file\tclass"]);
        Assert.Contains("'path' and 'label'", Assert.Throws<InvalidDataException>(() => ImageDataset.FromManifest(manifest)).Message);
    }

    [Fact]
    public void FromManifest_Csv_QuotedFieldsHoldCommasAndQuotes_AndAnUnquotedCommaIsRefused()
    {
        var root = TestPaths.NewTempDirectory();
        var manifest = Path.Combine(root, "m.csv");
        File.WriteAllLines(manifest, ["path,label", "\"cats, small/a.jpg\",cat", "\"say \"\"hi\"\".jpg\",\"dog, big\""]);
        var images = ImageDataset.FromManifest(manifest);
        Assert.Equal([Path.Combine(root, "cats, small", "a.jpg"), Path.Combine(root, "say \"hi\".jpg")], images.Select(i => i.ImagePath));
        Assert.Equal(["cat", "dog, big"], images.Select(i => i.Label));

        // Split on every comma, this row would have been read as path "cats" with label " small/a.jpg".
        File.WriteAllLines(manifest, ["path,label", "cats, small/a.jpg,cat"]);
        var e = Assert.Throws<InvalidDataException>(() => ImageDataset.FromManifest(manifest));
        Assert.Contains($"{manifest}:2: expected 2 fields, found 3 (quote a field that holds a comma", e.Message);
        File.WriteAllLines(manifest, ["path,label", "\"a.jpg,cat"]);
        Assert.Contains($"{manifest}:2: a quote is not closed", Assert.Throws<InvalidDataException>(() => ImageDataset.FromManifest(manifest)).Message);
    }

    [Fact]
    public void ToDataView_HasImagePathAndLabelTextColumns()
    {
        var ml = new MLContext(1);
        var view = ImageDataset.ToDataView(ml, ImageDataset.FromFolder(MakeFolder()));
        Assert.IsType<TextDataViewType>(view.Schema["ImagePath"].Type);
        Assert.Equal(["cat", "cat", "dog", "dog", "dog"], view.GetColumn<string>("Label"));
    }

    [Fact]
    public void FromEncodedImages_DecodesStreams_AndNamesTheBadOne()
    {
        var ml = new MLContext(1);
        var view = ImageDataset.FromEncodedImages(ml, [(new MemoryStream(TestImages.Jpeg(1, true)), "logo"), (new MemoryStream(TestImages.Jpeg(2, false, 64)), "other")]);
        var images = view.GetColumn<MLImage>("Image").ToList();
        Assert.Equal([96, 64], images.Select(i => i.Width));
        Assert.Equal(["logo", "other"], view.GetColumn<string>("Label"));
        var e = Assert.Throws<InvalidDataException>(() => ImageDataset.FromEncodedImages(ml, [(new MemoryStream(TestImages.Jpeg(1, true)), "ok"), (new MemoryStream([1, 2, 3]), "broken")]));
        Assert.Contains("#1", e.Message);
        Assert.Contains("broken", e.Message);
    }

    [Fact]
    public void FromFolder_SymlinkLoopEmptyLabelAndCaseTwins_AreReportedAndNotFollowed()
    {
        var root = Path.Combine(TestPaths.NewTempDirectory(), "data");
        var jpeg = TestImages.Jpeg(seed: 3, withLogo: false);
        foreach (var (label, name) in new[] { ("daisy", "a.jpg"), ("daisy", "b.jpg"), ("roses", "c.jpg"), ("Roses", "d.jpg") })
        {
            Directory.CreateDirectory(Path.Combine(root, label));
            File.WriteAllBytes(Path.Combine(root, label, name), jpeg);
        }
        Directory.CreateDirectory(Path.Combine(root, "tulips"));
        File.WriteAllText(Path.Combine(root, "tulips", "readme.txt"), "no images yet");
        Directory.CreateSymbolicLink(Path.Combine(root, "daisy", "loop"), ".."); // the loop: daisy/loop → data/

        var images = ImageDataset.FromFolder(root, out var notes);

        // Without the guard the loop would relabel every other class's image as daisy, again and again.
        Assert.Equal([("Roses", "d.jpg"), ("daisy", "a.jpg"), ("daisy", "b.jpg"), ("roses", "c.jpg")],
            images.Select(i => (i.Label, Path.GetFileName(i.ImagePath))));
        Assert.Contains("did not follow 1 directory link(s) below a label folder: daisy/loop", notes);
        Assert.Contains("label folder(s) with no image, left out: tulips", notes);
        Assert.Contains("labels that differ only by case are different classes: Roses, roses", notes);
        Assert.Contains("left out 1 file(s) that are not images read here (PNG, JPEG, GIF, BMP, WebP): .txt ×1", notes);
    }
}
