# The text of the cmdlet help. New-MessengerHelp.ps1 joins it with the cmdlets' own metadata (parameter
# sets, types, positions, pipeline input) into ../en-US/Messenger.PowerShell.dll-Help.xml.
# A cmdlet's optional Defaults table names the default shown for a parameter whose initial value is not it.
@{
    Common = @{
        Node = 'The node of this session that does the work: a node object (from Start-MessengerNode or Get-MessengerNode) or a node name. Tab completes the names of this session''s nodes. Left out, or given $null, the session''s only node is used (Stop-MessengerNode alone refuses a $null: it would stop that node); with no node running the command fails with NodeNotFound, with several running it fails with NodeNotSpecified.'
        WhatIf = 'Shows what would happen if the cmdlet runs. The cmdlet is not run.'
        Confirm = 'Prompts you for confirmation before running the cmdlet.'
    }

    'Start-MessengerNode' = @{
        Synopsis = 'Starts a Messenger node in this session and outputs it.'
        Description = @(
            'Start-MessengerNode starts a node: it binds its unicast and broadcast sockets, announces itself with a UDP beacon (unless -NoBeacon), joins through any -Seed endpoints, and outputs a MessengerNodeInfo object. The object is live: its State, PeerCount, Uptime and Statistics properties read the node''s current state.'
            'Several nodes may run in one session, each with its own name and ports: that is how a test script builds a small cluster. A name can be used by only one node of the session at a time (error NodeNameInUse). Nodes stop with Stop-MessengerNode, when the module is removed, or when the process exits (they tell their peers they leave).'
            'Nodes talk only to nodes of the same -Cluster. Links are encrypted and authenticated; every node of a cluster needs the same cluster key, which by default is read from (or created in) ~/.messenger/cluster.key, or $env:MESSENGER_HOME/cluster.key. See about_Messenger.'
            'Options that the engine rejects end in an InvalidConfiguration error naming the option (a bad name, an address that is not an IP address, a port in use, a peer timeout not longer than the heartbeat interval, a time under a millisecond (-AckTimeout: zero), a time longer than a day, an unknown beacon interface, -Insecure with a cluster key or an allowlist). A number out of its range (such as -MaxPeers 0) fails parameter validation before the node starts (ParameterArgumentValidationError).'
            'The limits (-MaxPeers, -MaxPendingHandshakes, -MaxHandshakesPerSecond, -HandshakeTimeout, and per connection -HelloBurstPerConnection, -HelloIntervalPerConnection, -StrangerResetInterval, -MaxStrangerFramesPerWakeup, -MaxTrackedConnections) keep a flood of strangers from starving the members; the supervisor settings (-MaxRestarts, -RestartPeriod, -HangTimeout) decide when a node that keeps failing gives up and becomes Faulted. The node object''s GetEngineNode().Options shows every setting in force.'
            '-Insecure starts a node with plaintext, unauthenticated links, for debugging only: it writes a warning at every start, talks only to other insecure nodes, and refuses -ClusterKey, -ClusterKeyPath and -AllowedKey.'
        )
        Parameters = @{
            Name = 'The node''s name, unique in its cluster: 1 to 64 letters, digits, ''.'', ''_'' or ''-'', other than ''.'' and ''..''. Names are case-sensitive. Default: the host name and the process id. Takes pipeline input, so a list of names starts several nodes.'
            Cluster = 'The cluster to join. Nodes only talk to nodes of the same cluster, so clusters on one network ignore each other. The same characters as a name. Default: messenger.'
            Port = 'The TCP port of the unicast socket that peers connect to. 0 (the default) lets the system pick a free port; the node''s Endpoint property shows it.'
            PublishPort = 'The TCP port of the broadcast socket. 0 (the default) lets the system pick a free port.'
            Cipher = 'The AEAD that seals a secure node''s frames after its handshake: Auto prefers AES-256-GCM where the processor has AES instructions (several times faster there), else ChaCha20-Poly1305; ChaCha20Poly1305 or Aes256Gcm state a preference outright. A link uses AES-256-GCM when both of its ends prefer it, else ChaCha20-Poly1305; the node seals its broadcasts with its own preference, and opens its peers'' whatever it prefers. Secure nodes only. Get-MessengerPeer shows each link''s Cipher. Default: Auto.'
            DataPort = 'The TCP port of the data receiver, where peers send the messages of their data connections. Peers learn it in the handshake. 0 (the default) lets the system pick a free port; fix it where ports must be known in advance (containers, firewalls).'
            BindAddress = 'The IPv4 address the sockets bind to, or * (the default) for every interface. Use 127.0.0.1 to keep a test on this machine.'
            AdvertisedHost = 'The host name or address that other nodes are told to connect to when they learn of this node from seeds or from other peers. Default: the bind address when it names one, else this host''s first address on the beacon''s interface.'
            Seed = 'Endpoints (tcp://host:port, the Endpoint of another node) to join through, with or without the beacon. Use seeds where UDP broadcast does not reach, such as between containers.'
            NoBeacon = 'Turns the UDP beacon off. The node then finds peers only through -Seed, Connect-MessengerPeer, and nodes that connect to it.'
            BeaconInterface = 'The network interface the beacon announces on: an interface name such as eth0 or lo, or one of this host''s IPv4 addresses. Default: every broadcast-capable interface that is up, or $env:MESSENGER_BEACON_INTERFACE when set.'
            BeaconPort = 'The UDP port of the beacon. Every node of a cluster on one network must use the same port. Default: 5670.'
            BeaconInterval = 'How often the beacon announces the node: a TimeSpan, or a number of seconds such as 1. Longer intervals mean less broadcast traffic and slower discovery. Default: 0.25 seconds.'
            HeartbeatInterval = 'How often the node sends each peer a heartbeat: a TimeSpan, or a number of seconds such as 0.25. Default: 0.25 seconds.'
            PeerTimeout = 'A peer from which nothing arrived for this long is reported unreachable (event PeerUnreachable): a TimeSpan or a number of seconds. Must be longer than -HeartbeatInterval. A peer whose process dies is reported sooner: its connection closes, and one heartbeat interval later it is unreachable. Default: 4 seconds.'
            PeerGoneAfter = 'An unreachable peer that stays silent this long is reported gone (event PeerLeft) and removed from the peer table: a TimeSpan or a number of seconds. Default: 10 seconds.'
            MaxMessageSize = 'The largest message body, in bytes, that the node sends or accepts. The node tells its peers, and a send to a peer over that peer''s limit (a broadcast: over any peer''s) is reported as MessageTooLarge; Get-MessengerPeer shows each peer''s MaxMessageSize. Default: 1 MiB.'
            ReceiveQueueCapacity = 'How many received messages wait for Receive-MessengerMessage at most. When the queue is full, a message is dropped (see -ReceiveFullMode) and the MessageDropped event is raised. Default: 1048576.'
            ReceiveFullMode = 'What happens to a message that arrives while the receive queue is full: DropNewest drops the arriving message, DropOldest drops the oldest waiting one to make room. Every drop is counted in Statistics and raises MessageDropped. Default: DropNewest.'
            SendQueueLimitBytes = 'How many bytes one peer''s queue may hold: messages waiting to be sent, and the frames kept until the peer acknowledges them (each counts its whole buffer: 64 KiB, or a larger messages rounded up to a power of two). A send beyond that waits for room (Ctrl+C stops the wait). At least 65536 (64 KiB). Default: 67108864 (64 MiB).'
            AckTimeout = 'How long Send-MessengerMessage -WaitForAck waits for the peer to acknowledge a message before it fails with AckTimeout: a TimeSpan or a number of seconds. Default: 10 seconds.'
            LeaveTimeout = 'How long a stopping node waits for its peers to acknowledge what it sent them and its leave message, so that they have it all and see it go at once: a TimeSpan or a number of seconds. What a peer has not acknowledged by then counts as dropped. Default: 0.25 seconds.'
            MaxPeers = 'How many peers the node links to at most. Nodes discovered beyond that are dropped and counted. At least 1. Default: 1024.'
            MaxPendingHandshakes = 'How many handshakes may be half-way at once; when more begin, the oldest is dropped. At least 1. Default: 256.'
            MaxHandshakesPerSecond = 'How many new handshakes per second the node answers. The rest are dropped and counted, so that a flood of strangers cannot starve the members'' traffic. At least 1. Default: 100.'
            HandshakeTimeout = 'How long a half-way handshake is kept before it is dropped: a TimeSpan or a number of seconds. Default: 5 seconds.'
            HelloBurstPerConnection = 'How many HELLOs (handshake starts) one inbound connection may send at once; past that it gets one more every -HelloIntervalPerConnection and its other HELLOs are dropped unanswered, before the node-wide -MaxHandshakesPerSecond, so that one connection''s flood cannot use up what the node grants to all. A legitimate peer sends one a second at most. At least 1. Default: 4.'
            HelloIntervalPerConnection = 'How often a connection that used up its -HelloBurstPerConnection gets another HELLO: a TimeSpan or a number of seconds, 1 ms to 1 day. Default: 0.5 seconds.'
            StrangerResetInterval = 'A connection that sends sealed frames without a session (a stranger, or a peer this node forgot) is told RESET, so that it starts a new handshake, at most once in this time; every such frame is dropped and counted all the same. A TimeSpan or a number of seconds, 1 ms to 1 day. Default: 1 second.'
            MaxStrangerFramesPerWakeup = 'How many frames from connections without a session (strangers, and peers still handshaking) the node reads in one go before it serves its members, timers and other sockets again; the members'' frames do not count. Lower values favour the members under a flood of junk. At least 1. Default: 64.'
            MaxTrackedConnections = 'How many inbound connections the node keeps per-connection budgets for (-HelloBurstPerConnection, -StrangerResetInterval). Past it a new connection is not tracked and only the node-wide limits apply to it, so that the table cannot grow without bound. At least 1. Default: 4096.'
            MaxRestarts = 'How many times the node''s supervisor restarts a failed part of the node (a socket, a peer''s link, the beacon) within -RestartPeriod. One failure more stops the node as Faulted (event Faulted). 0 faults at the first failure. Default: 5.'
            RestartPeriod = 'The window in which -MaxRestarts restarts are allowed: a TimeSpan or a number of seconds. Default: 10 seconds.'
            HangTimeout = 'A node loop that answers no health probe for this long is taken for hung, and the node becomes Faulted: a TimeSpan or a number of seconds. Default: 10 seconds.'
            ClusterKey = 'The cluster key that every member holds: a key object from New-MessengerClusterKey, or its base64 text (for example from a CI secret). Nodes with different keys refuse each other''s handshakes. Default: the key in -ClusterKeyPath, else the one in $env:MESSENGER_HOME/cluster.key (~/.messenger/cluster.key), created on first use.'
            ClusterKeyPath = 'A file holding the cluster key, as New-MessengerClusterKey -Path writes it. Created (mode 0600) with a new key when it does not exist.'
            AllowedKey = 'Public keys (base64) of the nodes allowed to join; key pairs (New-MessengerKeyPair) and node objects are taken for their public keys. With -ClusterKey or -ClusterKeyPath, a node must hold the cluster key and be on the list; without them, the list alone decides membership. Default: every holder of the cluster key is admitted.'
            KeyPath = 'The node''s identity key file, as New-MessengerKeyPair -Path writes it; created (mode 0600) when it does not exist. The node''s id and public key derive from it. Default: $env:MESSENGER_HOME/keys/<cluster>/<name>.key.'
            KeyPair = 'The node''s identity key pair, from New-MessengerKeyPair, instead of a key file.'
            Insecure = 'Starts the node with plaintext, unauthenticated links (wire protocol 1), for debugging only: anyone on the network can read its messages, forge them and join. The node writes a warning at every start, talks only to other insecure nodes, and cannot be combined with -ClusterKey, -ClusterKeyPath or -AllowedKey (InvalidConfiguration).'
            LogPath = 'A file to append the node''s log to: discovery, handshakes and refusals, peers joining and leaving, failures. Each line is written at once, so a killed process leaves its log behind. Nodes of one session may share a file; nodes in other processes should each have their own (their lines could interleave). Default: no log.'
            LogLevel = 'The least severe entries written to -LogPath: Trace, Debug, Information, Warning, Error or Critical. Debug adds every discovery. Default: Information.'
        }
        Inputs = @(
            @{ Type = 'System.String'; Description = 'Node names.' }
            @{ Type = 'System.Management.Automation.PSObject'; Description = 'Objects with properties named like the parameters (Name, Cluster, Port, BindAddress, Seed, ...), for example rows of Import-Csv.' }
        )
        Outputs = @(@{ Type = 'Messenger.PowerShell.MessengerNodeInfo'; Description = 'The started node.' })
        Examples = @(
            @{ Title = 'Start a node'; Code = 'Start-MessengerNode -Name web1'; Remarks = 'Starts the node web1 in the default cluster. It finds the other nodes of the cluster on this network by beacon.' }
            @{ Title = 'Start three nodes on loopback for a test'; Code = '$nodes = ''a'', ''b'', ''c'' | Start-MessengerNode -Cluster "test-$PID" -BindAddress 127.0.0.1 -BeaconInterface lo'; Remarks = 'Starts three nodes in this session. They find each other by beacon on the loopback interface, in a cluster of their own.' }
            @{ Title = 'Join through a seed without the beacon'; Code = 'Start-MessengerNode -Name worker7 -NoBeacon -Seed tcp://10.0.0.5:7000 -Port 7000'; Remarks = 'Starts a node on a fixed port that joins the cluster through a known node, where UDP broadcast does not reach.' }
            @{ Title = 'Shorter timeouts for a test that kills nodes'; Code = 'Start-MessengerNode -Name watcher -PeerTimeout 1 -PeerGoneAfter 3'; Remarks = 'A peer that goes silent is reported unreachable after 1 second and gone after 3 more.' }
            @{ Title = 'A small receive queue that keeps the latest messages'; Code = 'Start-MessengerNode -Name sensor-sink -ReceiveQueueCapacity 1000 -ReceiveFullMode DropOldest'; Remarks = 'At most 1000 messages wait for Receive-MessengerMessage; when more arrive, the oldest are dropped, counted and raised as MessageDropped.' }
            @{ Title = 'Tighter limits and a stricter supervisor'; Code = 'Start-MessengerNode -Name edge1 -MaxPeers 16 -MaxHandshakesPerSecond 20 -HandshakeTimeout 2 -MaxRestarts 2 -RestartPeriod 60'; Remarks = 'Links to at most 16 peers, answers at most 20 new handshakes a second, and gives up (State Faulted) when a part of it fails a third time within a minute.' }
            @{ Title = 'Plaintext links to debug the wire protocol'; Code = 'Start-MessengerNode -Name dbg1 -Insecure -BindAddress 127.0.0.1'; Remarks = 'Warns that links are plaintext and unauthenticated. Only other nodes started with -Insecure talk to it. Never use it on a network you do not control.' }
            @{ Title = 'Log discovery to a file while troubleshooting'; Code = 'Start-MessengerNode -Name web1 -LogPath ./web1.log -LogLevel Debug'; Remarks = 'Writes who was found, which handshakes completed or were refused and why, and who came and went.' }
            @{ Title = 'A cluster key from a CI secret'; Code = 'Start-MessengerNode -Name ci-runner -ClusterKey $env:MESSENGER_CLUSTER_KEY'; Remarks = 'Joins the nodes that hold the same key; the secret was made once with New-MessengerClusterKey -AsPlainText.' }
            @{ Title = 'Admit only known nodes'; Code = '$a = New-MessengerKeyPair; $b = New-MessengerKeyPair
Start-MessengerNode -Name a -KeyPair $a -AllowedKey $b
Start-MessengerNode -Name b -KeyPair $b -AllowedKey $a'; Remarks = 'Each node admits only the other''s public key; no cluster key is involved.' }
        )
        Notes = @('The node object''s GetEngineNode() method returns the engine''s MessengerNode, for what the cmdlets do not cover.')
    }

    'Stop-MessengerNode' = @{
        Synopsis = 'Stops nodes of this session.'
        Description = @(
            'Stop-MessengerNode stops nodes: each tells its peers it leaves (they raise PeerLeft at once), closes its sockets and is removed from the session, so that its name can be used again. Messages not yet read from a stopped node are lost.'
            'It takes node objects from the pipeline or -Node, names with wildcards through -Name, or every node with -All. Without any of them it stops the session''s only node.'
        )
        Parameters = @{
            Node = 'The nodes to stop: node objects or names. Takes node objects from the pipeline. Left out (and without -Name or -All), the session''s only node is stopped. Anything else given (a $null, a peer row from Get-MessengerPeer, a number) stops nothing: it is an InvalidNodeArgument error, and the other nodes given are stopped.'
            Name = 'Names of the nodes to stop. Wildcards are allowed (case-insensitive); a name without wildcards is the exact, case-sensitive name of one node. A name without wildcards that no node has is reported as NodeNotFound.'
            All = 'Stops every node of the session.'
            PassThru = 'Outputs each node once it is stopped.'
        }
        Inputs = @(@{ Type = 'Messenger.PowerShell.MessengerNodeInfo'; Description = 'Nodes to stop, from Get-MessengerNode or Start-MessengerNode.' })
        Outputs = @(
            @{ Type = 'None'; Description = 'By default, nothing.' }
            @{ Type = 'Messenger.PowerShell.MessengerNodeInfo'; Description = 'With -PassThru, the stopped nodes.' }
        )
        Examples = @(
            @{ Title = 'Stop the only node'; Code = 'Stop-MessengerNode'; Remarks = 'Stops the node of this session when exactly one runs.' }
            @{ Title = 'Stop nodes by name'; Code = 'Stop-MessengerNode -Name ''test-*'''; Remarks = 'Stops every node whose name starts with test-.' }
            @{ Title = 'Stop every node at the end of a script'; Code = 'Get-MessengerNode | Stop-MessengerNode'; Remarks = 'Stops all nodes of the session; Stop-MessengerNode -All does the same.' }
            @{ Title = 'See what would stop'; Code = 'Stop-MessengerNode -All -WhatIf'; Remarks = 'Lists the nodes that would stop, and stops none.' }
        )
    }

    'Get-MessengerNode' = @{
        Synopsis = 'Gets the nodes of this session.'
        Description = @(
            'Get-MessengerNode outputs the nodes started in this session (and not stopped), ordered by name: name, id, cluster, endpoints, state, peer count, pending messages, uptime and counters. The objects are live: their properties read the node''s current state.'
        )
        Parameters = @{
            Name = 'Names of the nodes to get. Wildcards are allowed (case-insensitive); a name without wildcards is the exact, case-sensitive name of one node. A name without wildcards that no node has is reported as NodeNotFound. Default: every node.'
        }
        Inputs = @(@{ Type = 'System.String'; Description = 'Node names.' })
        Outputs = @(@{ Type = 'Messenger.PowerShell.MessengerNodeInfo'; Description = 'The nodes.' })
        Examples = @(
            @{ Title = 'List the nodes'; Code = 'Get-MessengerNode'; Remarks = 'Shows a table of this session''s nodes: name, state, endpoint, connected peers, pending messages, uptime and cluster.' }
            @{ Title = 'Counters of one node as JSON'; Code = '(Get-MessengerNode -Name web1).Statistics | ConvertTo-Json'; Remarks = 'Messages and frames sent, received and dropped since the node started.' }
        )
    }

    'Get-MessengerPeer' = @{
        Synopsis = 'Gets a node''s peer table.'
        Description = @(
            'Get-MessengerPeer outputs what a node knows of its peers: name, id, address, endpoints, state (Joining, Connected, Unreachable), when anything last arrived from it, the last heartbeat round-trip time, and how it was found (beacon, seed, hello, membership). Each row is a snapshot taken when the command ran. A stopped node has no peer table: it is the non-terminating error NodeStopped.'
        )
        Parameters = @{
            Name = 'Names of the peers to get. Wildcards are allowed (case-insensitive); a name without wildcards is the exact, case-sensitive name of one peer. Tab completes from the live peer table. A name without wildcards that is not in the table is reported as PeerNotFound.'
            State = 'Only peers in these states: Joining, Connected or Unreachable.'
            Node = 'The node whose peer table to read: a node object or name; takes node objects from the pipeline. Left out, or $null, the session''s only node.'
        }
        Inputs = @(@{ Type = 'Messenger.PowerShell.MessengerNodeInfo'; Description = 'The node whose peers to list.' })
        Outputs = @(@{ Type = 'Messenger.PowerShell.MessengerPeerInfo'; Description = 'One row per peer.' })
        Examples = @(
            @{ Title = 'Show the peers'; Code = 'Get-MessengerPeer'; Remarks = 'Shows the peer table of the session''s only node.' }
            @{ Title = 'Peers that stopped answering'; Code = 'Get-MessengerPeer -Node web1 -State Unreachable'; Remarks = 'Lists the peers of web1 from which nothing arrived for longer than its peer timeout.' }
            @{ Title = 'The peers of every node'; Code = 'Get-MessengerNode | Get-MessengerPeer'; Remarks = 'Lists the peer table of each node of the session, grouped by node.' }
        )
    }

    'Wait-MessengerPeer' = @{
        Synopsis = 'Waits until peers are connected.'
        Description = @(
            'Wait-MessengerPeer blocks until the named peers (or at least -Count peers) are connected: both directions work, so a broadcast sent afterwards reaches them. It returns at once when they already are.'
            'When -Timeout passes first it fails with the terminating error PeerWaitTimeout, whose message names the peers that were missing. Ctrl+C stops the wait.'
        )
        Parameters = @{
            Name = 'The peers to wait for, by exact name. The node''s own name is passed over, so every node can be given the list of all members. Tab completes from the live peer table.'
            Count = 'How many peers must be connected.'
            Timeout = 'How long to wait at most, in seconds. -1 waits until Ctrl+C. Default: 30.'
            Node = 'The node that waits: a node object or name; takes node objects from the pipeline. Left out, or $null, the session''s only node.'
            PassThru = 'Outputs the awaited peers once they are connected (with -Count, every connected peer).'
        }
        Inputs = @(@{ Type = 'Messenger.PowerShell.MessengerNodeInfo'; Description = 'The node that waits.' })
        Outputs = @(
            @{ Type = 'None'; Description = 'By default, nothing.' }
            @{ Type = 'Messenger.PowerShell.MessengerPeerInfo'; Description = 'With -PassThru, the peers.' }
        )
        Examples = @(
            @{ Title = 'Wait for two peers'; Code = 'Wait-MessengerPeer -Name db1, db2 -Timeout 20'; Remarks = 'Returns once db1 and db2 are connected, or fails after 20 seconds naming the one that is missing.' }
            @{ Title = 'Wait for any three peers'; Code = 'Wait-MessengerPeer -Node web1 -Count 3'; Remarks = 'Returns once web1 has three connected peers.' }
            @{ Title = 'In a Pester test'; Code = '$a, $b, $c = ''a'', ''b'', ''c'' | Start-MessengerNode -Cluster "t-$PID" -BindAddress 127.0.0.1 -BeaconInterface lo
$a | Wait-MessengerPeer -Name b, c
Send-MessengerBroadcast -Node a -Message ''hello'''; Remarks = 'After the wait, the broadcast reaches b and c.' }
        )
    }

    'Connect-MessengerPeer' = @{
        Synopsis = 'Joins a node to the node at an endpoint.'
        Description = @(
            'Connect-MessengerPeer joins through a known endpoint (tcp://host:port, the Endpoint of another node), as a seed given at start would, waits until the node there is connected, and outputs it as a peer. The peers of that node then become known through it. Use it where the beacon does not reach.'
            'An endpoint that is not of the form tcp://host:port is reported as InvalidConfiguration; one where no node becomes connected in time as PeerWaitTimeout. Each endpoint is handled on its own.'
        )
        Parameters = @{
            Endpoint = 'The endpoints to join through, tcp://host:port. Takes pipeline input by value, and by property name from objects with an Endpoint property (nodes and peers).'
            Timeout = 'How long to wait for each peer to become connected, in seconds. -1 waits until Ctrl+C. Default: 10.'
            Node = 'The node that connects: a node object or name. Left out, or $null, the session''s only node.'
        }
        Inputs = @(
            @{ Type = 'System.String'; Description = 'Endpoints.' }
            @{ Type = 'Messenger.PowerShell.MessengerNodeInfo'; Description = 'Objects with an Endpoint property.' }
        )
        Outputs = @(@{ Type = 'Messenger.PowerShell.MessengerPeerInfo'; Description = 'The peer at each endpoint.' })
        Examples = @(
            @{ Title = 'Join a known node'; Code = 'Connect-MessengerPeer -Endpoint tcp://10.0.0.5:7000'; Remarks = 'Connects the session''s only node to the node listening at 10.0.0.5:7000 and outputs it.' }
            @{ Title = 'Connect two nodes of this session without the beacon'; Code = '$x = Start-MessengerNode -Name x -NoBeacon
$y = Start-MessengerNode -Name y -NoBeacon
$y | Connect-MessengerPeer -Node x'; Remarks = 'The endpoint comes from the Endpoint property of the node y.' }
        )
    }

    'Send-MessengerMessage' = @{
        Synopsis = 'Sends messages to a peer.'
        Description = @(
            'Send-MessengerMessage sends each -Message to the peers named by -To. A string travels as UTF-8 text and arrives as a string; a byte array travels as it is and arrives as a byte array; any other object (hashtable, PSCustomObject, number, array, ...) travels as JSON and arrives as a PSCustomObject (or number, array, ...), the way ConvertTo-Json and ConvertFrom-Json would turn it.'
            'Messages from the pipeline are sent as a stream: the node and the peers are resolved once, and messages are handed to the node in bursts (up to 4096 messages or 64 KiB) so that they travel in shared frames; none waits more than about a millisecond, and the last leaves when the pipeline ends. The command returns when the messages are queued, not when they arrive. Messages to one peer arrive in order.'
            'A peer that is not in the peer table ends the command with PeerNotFound before anything is sent; so do a stopped node (NodeStopped) and an invalid topic (InvalidTopic). A message larger than the node''s MaxMessageSize, or than the receiving peer''s (also a peer''s limit told after the command began, or with -WaitForAck after the message was queued), is reported as MessageTooLarge and the stream goes on. So is a string that holds half of a surrogate pair, which UTF-8 cannot carry (InvalidText): it is not sent. (Strings inside an object sent as JSON are written as System.Text.Json writes them: half a pair becomes U+FFFD.)'
        )
        Parameters = @{
            To = 'The peers to send to, by exact name. Tab completes from the live peer table. Each message goes to each of them; one too large for a peer (its MaxMessageSize) is a MessageTooLarge error naming that peer, and still goes to the others.'
            Message = 'The message: a string, a byte array, or any object (sent as JSON). Takes pipeline input; the pipeline enumerates arrays, so pipe a byte array with the comma operator (,$bytes) or give it with -Message. An array given with -Message is one message (a JSON array).'
            Topic = 'A topic the receiver can filter on (Receive-MessengerMessage -Topic): 1 to 255 bytes of UTF-8, valid Unicode.'
            Depth = 'How many levels of nested objects are written to JSON before deeper values are written as their strings. Default: 10.'
            Node = 'The node that sends: a node object or name. Left out, or $null, the session''s only node.'
            WaitForAck = 'Each message returns only once the peer''s node has accepted it. A message not acknowledged within the node''s AckTimeout (AckTimeout), or before the peer went away (NotAcknowledged), is reported as an error that says it may or may not have arrived, and one over the peer''s MaxMessageSize as MessageTooLarge; the stream goes on. Slower: one round trip per message.'
        }
        Inputs = @(@{ Type = 'System.Object'; Description = 'Messages: strings, byte arrays, or objects.' })
        Outputs = @(@{ Type = 'None'; Description = 'Nothing.' })
        Examples = @(
            @{ Title = 'Send text'; Code = 'Send-MessengerMessage -To db1 -Message ''hello'''; Remarks = 'Sends the string hello to the peer db1.' }
            @{ Title = 'Send an object'; Code = 'Send-MessengerMessage -To db1 -Message @{ Order = 42; Items = ''a'', ''b'' } -Topic orders'; Remarks = 'The hashtable travels as JSON; db1 receives a PSCustomObject with the properties Order and Items.' }
            @{ Title = 'Stream a file''s lines'; Code = 'Get-Content ./events.log | Send-MessengerMessage -To collector'; Remarks = 'Each line becomes one text message, sent in order.' }
            @{ Title = 'Send bytes'; Code = 'Send-MessengerMessage -To db1 -Message ([IO.File]::ReadAllBytes(''./blob.bin''))'; Remarks = 'The byte array arrives as it is.' }
            @{ Title = 'Send and wait for the acknowledgement'; Code = 'Send-MessengerMessage -To db1 -Message ''commit 42'' -WaitForAck -ErrorAction Stop'; Remarks = 'Returns once db1''s node has the message; if db1 does not acknowledge it in time, the error AckTimeout stops the script.' }
        )
    }

    'Send-MessengerBroadcast' = @{
        Synopsis = 'Sends messages to every connected peer.'
        Description = @(
            'Send-MessengerBroadcast sends each -Message to every peer that is connected when it is sent. Strings travel as text, byte arrays as they are, other objects as JSON, as with Send-MessengerMessage. A peer that Wait-MessengerPeer saw connected before the send receives it; a peer that joins later does not. A message larger than the node''s MaxMessageSize, or than any peer''s (also a peer that joins during the stream), is reported as MessageTooLarge and the stream goes on; so is a string that holds half of a surrogate pair (InvalidText), which is not sent.'
        )
        Parameters = @{
            Message = 'The message: a string, a byte array, or any object (sent as JSON). Takes pipeline input.'
            Topic = 'A topic the receivers can filter on (Receive-MessengerMessage -Topic): 1 to 255 bytes of UTF-8, valid Unicode.'
            Depth = 'How many levels of nested objects are written to JSON before deeper values are written as their strings. Default: 10.'
            Node = 'The node that sends: a node object or name. Left out, or $null, the session''s only node.'
        }
        Inputs = @(@{ Type = 'System.Object'; Description = 'Messages: strings, byte arrays, or objects.' })
        Outputs = @(@{ Type = 'None'; Description = 'Nothing.' })
        Examples = @(
            @{ Title = 'Tell everyone'; Code = 'Send-MessengerBroadcast -Message ''deploy starts'' -Topic ops'; Remarks = 'Every connected peer receives the text, with the topic ops.' }
            @{ Title = 'Broadcast a status object'; Code = '[pscustomobject]@{ Node = ''web1''; Load = 0.42 } | Send-MessengerBroadcast -Node web1'; Remarks = 'The object travels as JSON and arrives as a PSCustomObject.' }
        )
    }

    'Receive-MessengerMessage' = @{
        Synopsis = 'Outputs the messages a node received.'
        Description = @(
            'Receive-MessengerMessage outputs received messages as objects, in arrival order, and removes them from the node''s receive queue: From, To, Topic, Kind (Unicast or Broadcast), ContentType, Body, Size, Sequence, SentAt and ReceivedAt. Body is the string, the byte array, or the object (PSCustomObject, number, array) that was sent.'
            'Without -Count or -Timeout it outputs what is waiting and returns at once. With -Count it stops after that many messages, waiting for them up to -Timeout (30 seconds by default); when fewer arrived in time it outputs those and writes the non-terminating error ReceiveTimeout. With -Timeout alone it listens that long. Ctrl+C stops it cleanly. Messages are output as they arrive. A receive that waits (-Count or -Timeout) on a node that stops, or has stopped, outputs what the node still holds and then writes the non-terminating error NodeStopped; one that does not wait outputs what is waiting, also from a stopped node.'
            'Messages that -From, -Topic or -Kind leave out stay, in order, for later receives. While a MessageReceived event subscription (Register-MessengerEvent) exists, messages go to the events instead.'
        )
        Parameters = @{
            Count = 'Stop after this many messages.'
            Timeout = 'How long to wait, in seconds: without -Count, how long to listen; with -Count, the most to wait for them (default 30). -1 waits until Ctrl+C. Default without -Count: 0, only what is waiting.'
            From = 'Only messages from these peers. Wildcards are allowed (case-insensitive); a name without wildcards matches exactly. Tab completes from the live peer table.'
            Topic = 'Only messages with these topics. Wildcards are allowed (case-insensitive); a topic without wildcard characters matches exactly.'
            Kind = 'Only Unicast or only Broadcast messages.'
            Node = 'The node that receives: a node object or name; takes node objects from the pipeline. Left out, or $null, the session''s only node.'
        }
        Inputs = @(@{ Type = 'Messenger.PowerShell.MessengerNodeInfo'; Description = 'The node that receives.' })
        Outputs = @(@{ Type = 'Messenger.PowerShell.MessengerReceivedMessage'; Description = 'The messages.' })
        Examples = @(
            @{ Title = 'Read what is waiting'; Code = 'Receive-MessengerMessage'; Remarks = 'Outputs the messages that wait now, and returns.' }
            @{ Title = 'Wait for three messages'; Code = '$m = Receive-MessengerMessage -Count 3 -Timeout 10
$m.Body'; Remarks = 'Waits up to 10 seconds for three messages and shows their bodies.' }
            @{ Title = 'Listen for a topic'; Code = 'Receive-MessengerMessage -Topic ''orders*'' -Timeout -1 | ForEach-Object { $_.Body.Order }'; Remarks = 'Outputs messages whose topic starts with orders as they arrive, until Ctrl+C; other messages stay queued.' }
            @{ Title = 'Receive as JSON for another tool'; Code = 'Receive-MessengerMessage -Count 1 | ConvertTo-Json -Depth 5 -EnumsAsStrings'; Remarks = 'Message objects convert cleanly to JSON; -EnumsAsStrings writes Kind and ContentType by name rather than as numbers.' }
        )
    }

    'Register-MessengerEvent' = @{
        Synopsis = 'Subscribes to a node''s peer and message events.'
        Description = @(
            'Register-MessengerEvent subscribes to an event of a node, like Register-ObjectEvent: PeerJoined (a peer became connected), PeerUnreachable (nothing arrived from a peer for longer than its peer timeout, or its connection closed and did not come back within a heartbeat interval), PeerLeft (a peer left, or stayed unreachable too long), MessageReceived (a message arrived), MessageDropped (messages were dropped, or broadcasts never arrived), ActorRestarted (the node''s supervisor restarted a failed part of it) or Faulted (the node failed beyond repair and stops). Handle the events with -Action, or read them with Wait-Event and Get-Event; remove the subscription with Unregister-Event.'
            'In $Event.SourceEventArgs, the peer events carry Node, Peer (a MessengerPeerInfo), PreviousState and Reason; MessageReceived carries Node and Message (as Receive-MessengerMessage outputs it); MessageDropped carries Node, Peer, Reason, Count and Message (null unless it reports one message: dropped from the full receive queue, or on arrival for a body over MaxMessageSize); ActorRestarted carries Node, Actor, Cause and Restarts; Faulted carries Node, Actor and Cause. $Event.Sender is the node.'
            'While a MessageReceived subscription exists, received messages go to it and no longer wait for Receive-MessengerMessage; after Unregister-Event they wait in the queue again. The module raises MessageReceived in order, but PowerShell''s event queue may hand the events on out of order (it takes each one in on a thread of its own): sort on the message''s Sequence (per sender) where order matters, or read an ordered stream with Receive-MessengerMessage.'
        )
        Parameters = @{
            EventName = 'The event: PeerJoined, PeerUnreachable, PeerLeft, MessageReceived, MessageDropped, ActorRestarted or Faulted.'
            Node = 'The node whose event to subscribe to: a node object or name, or a peer row (the node that sees that peer). Left out, or $null, the session''s only node. A stopped node is an error (NodeStopped): it raises nothing more.'
            SourceIdentifier = 'A name for the subscription, used by Wait-Event, Get-Event and Unregister-Event. Default: a GUID.'
            Action = 'Commands that handle the event. They run in the session''s event queue, with $Event, $EventArgs, $Sender and $EventSubscriber set. With -Action, the command outputs the PSEventJob that runs them. An error that ends the action (a throw, or -ErrorAction Stop) fails that job, and PowerShell runs the action no more, while a MessageReceived subscription goes on taking the messages: catch errors inside the action (try/catch), or Unregister-Event a failed subscription so that messages wait in the queue again.'
            MessageData = 'Extra data given to the handler in $Event.MessageData.'
            SupportEvent = 'Hides the subscription from Get-EventSubscriber and its job from Get-Job, for use inside modules.'
            Forward = 'Forwards the events to the session that started this one (remoting).'
            MaxTriggerCount = 'How many times the subscription fires before it unregisters itself. 0 (the default) means no limit.'
        }
        # Shown instead of the property's value, which is a fresh GUID each time.
        Defaults = @{ SourceIdentifier = 'A new GUID' }
        Inputs = @(@{ Type = 'None'; Description = 'This cmdlet takes no pipeline input.' })
        Outputs = @(
            @{ Type = 'None'; Description = 'Without -Action, nothing.' }
            @{ Type = 'System.Management.Automation.PSEventJob'; Description = 'With -Action, the job that runs the action.' }
        )
        Examples = @(
            @{ Title = 'Wait until a peer leaves'; Code = 'Register-MessengerEvent -EventName PeerLeft -SourceIdentifier left
$e = Wait-Event -SourceIdentifier left -Timeout 30
"$($e.SourceEventArgs.Peer.Name) left: $($e.SourceEventArgs.Reason)"'; Remarks = 'Waits up to 30 seconds for a peer of the session''s only node to leave.' }
            @{ Title = 'Log joins with an action'; Code = 'Register-MessengerEvent -Node web1 -EventName PeerJoined -Action { Write-Host "joined: $($EventArgs.Peer.Name)" }'; Remarks = 'Prints a line each time a peer joins web1.' }
            @{ Title = 'Handle messages as they arrive'; Code = 'Register-MessengerEvent -EventName MessageReceived -Action { $EventArgs.Message | Export-Csv ./messages.csv -Append }'; Remarks = 'Appends each received message to a CSV file; messages no longer wait for Receive-MessengerMessage.' }
        )
    }

    'New-MessengerClusterKey' = @{
        Synopsis = 'Creates a cluster key.'
        Description = @(
            'New-MessengerClusterKey creates a random 32-byte cluster key: the secret that every member of a cluster holds and proves in each handshake (it never travels on the wire). It outputs the key object, which shows only the key''s fingerprint; its ToBase64() method, or -AsPlainText, gives the text to copy to other machines or to a CI secret. Treat that text as a password.'
            'With -Path it also saves the key to a new file readable by its owner alone (mode 0600), which Start-MessengerNode -ClusterKeyPath reads. An existing file is never overwritten: that is an InvalidConfiguration error.'
        )
        Parameters = @{
            Path = 'A file to save the key to. It must not exist.'
            AsPlainText = 'Outputs the key as base64 text instead of a key object.'
        }
        Inputs = @(@{ Type = 'None'; Description = 'This cmdlet takes no pipeline input.' })
        Outputs = @(
            @{ Type = 'Messenger.ClusterKey'; Description = 'The key (its Fingerprint shows; the key itself does not).' }
            @{ Type = 'System.String'; Description = 'With -AsPlainText, the key as base64 text.' }
        )
        Examples = @(
            @{ Title = 'A key file for a cluster'; Code = 'New-MessengerClusterKey -Path ./cluster.key
Start-MessengerNode -Name web1 -ClusterKeyPath ./cluster.key'; Remarks = 'Copy cluster.key to every machine of the cluster, by a secure channel.' }
            @{ Title = 'A key for a CI secret'; Code = 'New-MessengerClusterKey -AsPlainText'; Remarks = 'Prints the key as base64, to store as a secret and pass to Start-MessengerNode -ClusterKey.' }
        )
    }

    'New-MessengerKeyPair' = @{
        Synopsis = 'Creates a node identity key pair.'
        Description = @(
            'New-MessengerKeyPair creates a Curve25519 key pair, a node''s long-term identity. Its PublicKey is what other nodes list in Start-MessengerNode -AllowedKey to admit the node, and NodeId is the id the node will have: the id derives from the key, so a name is bound to a key.'
            'With -Path it also saves the private key to a new file readable by its owner alone (mode 0600), which Start-MessengerNode -KeyPath reads. An existing file is never overwritten: that is an InvalidConfiguration error. Without -KeyPath or -KeyPair, a node uses a key file of its own under $env:MESSENGER_HOME.'
        )
        Parameters = @{
            Path = 'A file to save the private key to. It must not exist.'
        }
        Inputs = @(@{ Type = 'None'; Description = 'This cmdlet takes no pipeline input.' })
        Outputs = @(@{ Type = 'Messenger.MessengerKeyPair'; Description = 'The key pair: PublicKey and NodeId (the private key does not show).' })
        Examples = @(
            @{ Title = 'An identity for a node'; Code = '$key = New-MessengerKeyPair -Path ./web1.key
Start-MessengerNode -Name web1 -KeyPath ./web1.key
$key.PublicKey'; Remarks = 'The node web1 has the identity saved in web1.key; give its public key to the nodes that should admit it.' }
        )
    }
}
