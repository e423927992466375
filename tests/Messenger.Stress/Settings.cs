namespace Messenger.Stress;

/// <summary>Sizes of a run: the full sizes of issues 3 and 5 by default, smaller with --quick (for trying the suite).</summary>
internal sealed record Settings
{
    // Scenario 1
    public int HalfOpen { get; init; } = 10_000;
    public int Window { get; init; } = 1_000;
    public double HoldSeconds { get; init; } = 2;
    public long Frames { get; init; } = 1_000_000;
    public int FrameConnections { get; init; } = 8;
    public int SendLoops { get; init; } = 128;
    public int BodySize { get; init; } = 64;
    public double WarmupSeconds { get; init; } = 2;
    public double BaselineSeconds { get; init; } = 8;
    public double AfterSeconds { get; init; } = 4;
    public long PlainFrames { get; init; } = 200_000;

    // Scenario 2
    public int KillTrials { get; init; } = 20;
    public int CutTrials { get; init; } = 20;
    public int LoadSeconds { get; init; } = 60;
    public bool UseNamespaces { get; init; } = true;

    // Scenario 3
    public int Faults { get; init; } = 100;
    public int FaultSeconds { get; init; } = 60;

    public static Settings Quick { get; } = new()
    {
        HalfOpen = 2_000,
        Window = 500,
        HoldSeconds = 1,
        Frames = 100_000,
        BaselineSeconds = 4,
        AfterSeconds = 2,
        PlainFrames = 50_000,
        KillTrials = 3,
        CutTrials = 2,
        LoadSeconds = 10,
        Faults = 15,
        FaultSeconds = 10,
    };
}
