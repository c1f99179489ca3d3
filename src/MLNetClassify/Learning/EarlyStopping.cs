namespace MLNetClassify.Learning;

/// <summary>Tracks the lowest validation loss and says when patience has run out.</summary>
internal sealed class EarlyStopping(int patience)
{
    private double _bestLoss = double.PositiveInfinity;
    private int _bestEpoch = -1;
    private int _lastEpoch = -1;

    /// <summary>Records an epoch's validation loss; true when it is the best so far.</summary>
    public bool Report(int epoch, double validationLoss)
    {
        _lastEpoch = epoch;
        if (validationLoss < _bestLoss)
        {
            _bestLoss = validationLoss;
            _bestEpoch = epoch;
            return true;
        }
        return false;
    }

    /// <summary>True once <c>patience</c> epochs have passed without a better loss.</summary>
    public bool ShouldStop => _bestEpoch >= 0 && _lastEpoch - _bestEpoch >= patience;
}
