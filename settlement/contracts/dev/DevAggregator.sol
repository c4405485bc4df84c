// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice A development price feed with Chainlink's AggregatorV3Interface read surface: its
///         owner posts answers, each a new round. Never deploy it where prices matter.
/// @dev Round ids start at 1 and rise by 1; `latestRoundData` reverts until the first answer.
contract DevAggregator {
    struct Round {
        int256 answer;
        uint256 startedAt;
        uint256 updatedAt;
    }

    uint8 public immutable decimals;
    string public description;
    uint256 public constant version = 4;
    address public immutable owner;
    uint80 public latestRound;
    mapping(uint80 => Round) private rounds;

    error NotOwner();
    error NoData();

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    constructor(uint8 decimals_, string memory description_) {
        decimals = decimals_;
        description = description_;
        owner = msg.sender;
    }

    /// @notice Post a new answer observed at `updatedAt` (seconds); 0 means this block's time.
    function post(int256 answer, uint256 updatedAt) external {
        if (msg.sender != owner) revert NotOwner();
        uint256 at = updatedAt == 0 ? block.timestamp : updatedAt;
        uint80 id = latestRound + 1;
        rounds[id] = Round(answer, at, at);
        latestRound = id;
        emit AnswerUpdated(answer, id, at);
    }

    function getRoundData(uint80 roundId)
        public
        view
        returns (uint80, int256, uint256, uint256, uint80)
    {
        Round memory round = rounds[roundId];
        if (round.updatedAt == 0) revert NoData();
        return (roundId, round.answer, round.startedAt, round.updatedAt, roundId);
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return getRoundData(latestRound);
    }
}
