import XCTest
final class PlaceholderFovExCheckpointsTests: XCTestCase { func testNothing() {} }
